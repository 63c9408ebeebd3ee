"""One lifecycle through a Python client generated from openapi/openapi.json
(openapi-python-client): create → distribute → accept → progress → close, a
list read whose items are the class a GET returns, the dashboard's shapes
told apart by its discriminator, and an edit whose null clears a field. Run
by `make contract` against a live server with demo tokens."""

import csv
import io
import os
import time

from prm_client import AuthenticatedClient
from prm_client.types import File
from prm_client.api.customers import create_customer
from prm_client.api.dashboard import get_dashboard
from prm_client.api.lifecycle import accept_opportunity, close_opportunity, distribute_opportunity
from prm_client.api.activity import add_progress
from prm_client.api.imports import create_import, get_import
from prm_client.api.lifecycle import run_opportunity_batch
from prm_client.api.me import get_me
from prm_client.api.opportunities import (
    create_opportunity,
    get_opportunity,
    list_opportunities,
    update_opportunity,
)
from prm_client.models import (
    BatchAction,
    BatchRequest,
    BatchItem,
    BatchItemBodyType0,
    BatchResult,
    CloseBody,
    CreateImportKind,
    Import,
    ImportStatus,
    CloseOutcome,
    ContactInput,
    CreateCustomer,
    CreateOpportunity,
    CreateProgress,
    DistributeBody,
    Money,
    Opportunity,
    OpportunityStatus,
    PageOpportunity,
    PartnerDashboard,
    PipelinePhase,
    Problem,
    UpdateOpportunity,
    VendorDashboard,
)

base_url = os.environ.get("PRM_URL", "http://127.0.0.1:8080")
cm = AuthenticatedClient(base_url=base_url, token=os.environ["CM_TOKEN"])
partner = AuthenticatedClient(base_url=base_url, token=os.environ["PARTNER_TOKEN"])


def must(what, response, expected):
    """The parsed body of a successful answer, of the class the document names."""
    if not isinstance(response.parsed, expected):
        raise SystemExit(f"{what}: HTTP {response.status_code} {response.content!r}")
    return response.parsed


customer = must(
    "create customer",
    create_customer.sync_detailed(
        client=cm, body=CreateCustomer(name=f"Py Client Co {time.time_ns()}", country="DE")
    ),
    object,
)
created = must(
    "create opportunity",
    create_opportunity.sync_detailed(
        client=cm,
        body=CreateOpportunity(
            topic="Opened from the generated Python client",
            customer_id=customer.id,
            contact=ContactInput(name="Jo Park", email="jo@fabrikam.example"),
            estimated_revenue=Money(amount="15000.00", currency="EUR"),
            product_lines=["cloud"],
        ),
    ),
    Opportunity,
)
oid = created.id

# A null clears what the document declares nullable: the whole contact.
edited = must(
    "clear the contact",
    update_opportunity.sync_detailed(oid, client=cm, body=UpdateOpportunity(contact=None)),
    Opportunity,
)
if edited.contact.name is not None or edited.contact.email is not None:
    raise SystemExit(f"a null contact should clear it: {edited.contact}")

me = must("me", get_me.sync_detailed(client=partner), object)
delivered = must(
    "distribute",
    distribute_opportunity.sync_detailed(oid, client=cm, body=DistributeBody(partner_id=me.org.id)),
    Opportunity,
)
if delivered.status != OpportunityStatus.DELIVERED:
    raise SystemExit(f"expected delivered, got {delivered.status}")
accepted = must("accept", accept_opportunity.sync_detailed(oid, client=partner), Opportunity)
must(
    "progress",
    add_progress.sync_detailed(
        oid,
        client=partner,
        body=CreateProgress(
            development_phase=PipelinePhase.NEGOTIATE,
            win_probability=80,
            progress_details="Terms agreed",
        ),
    ),
    object,
)
closed = must(
    "close",
    close_opportunity.sync_detailed(
        oid,
        client=partner,
        body=CloseBody(
            outcome=CloseOutcome.WON,
            reason="signed",
            actual_revenue=Money(amount="14500.00", currency="EUR"),
        ),
    ),
    Opportunity,
)
if closed.status != OpportunityStatus.WON or closed.actual_revenue.amount != "14500.00":
    raise SystemExit(f"unexpected close: {closed}")

# A list's items are the very class a GET returns, and the status filter
# takes a list of the status enum.
page = must(
    "list",
    list_opportunities.sync_detailed(
        client=partner, status=[OpportunityStatus.WON, OpportunityStatus.LOST], limit=200
    ),
    PageOpportunity,
)
got = must("get", get_opportunity.sync_detailed(oid, client=partner), Opportunity)
listed = next((o for o in page.items if o.id == oid), None)
if listed is None or type(listed) is not type(got) or listed.to_dict() != got.to_dict():
    raise SystemExit(f"the listed opportunity should be the GET's: {listed!r}")

# The dashboard's shape is told by its `kind` discriminator.
must("vendor dashboard", get_dashboard.sync_detailed(client=cm), VendorDashboard)
must("partner dashboard", get_dashboard.sync_detailed(client=partner), PartnerDashboard)

# Errors come back typed as problems.
again = close_opportunity.sync_detailed(
    oid, client=partner, body=CloseBody(outcome=CloseOutcome.WON, reason="twice")
)
if again.status_code != 409 or not isinstance(again.parsed, Problem) or again.parsed.code != "invalid_transition":
    raise SystemExit(f"expected a 409 invalid_transition, got {again.status_code}")

# Bulk: customers imported from CSV (the raw body, as the generator is told
# in python-client.yaml), run by the server's worker; the import's counts.
run = time.time_ns()
csv_text = f"name,country,external_ref\r\nPy Import A {run},DE,PY-{run}-A\r\nPy Import B {run},FR,PY-{run}-B\r\n"
posted = must(
    "import",
    create_import.sync_detailed(
        client=cm,
        kind=CreateImportKind.CUSTOMERS,
        body=File(payload=io.BytesIO(csv_text.encode()), mime_type="text/csv"),
    ),
    Import,
)
for _ in range(200):
    state = must("import progress", get_import.sync_detailed(posted.id, client=cm), Import)
    if state.status in (ImportStatus.DONE, ImportStatus.FAILED):
        break
    time.sleep(0.1)
if state.status != ImportStatus.DONE or state.created != 2:
    raise SystemExit(f"the import should create both rows: {state.to_dict()}")

# The same list as CSV: the header the document shows, a row per item.
exported = cm.get_httpx_client().get(
    "/api/v1/opportunities", params={"status": "won"}, headers={"Accept": "text/csv"}
)
rows = list(csv.reader(io.StringIO(exported.text)))
if exported.status_code != 200 or rows[0][:2] != ["id", "reference"] or not any(r[0] == str(oid) for r in rows[1:]):
    raise SystemExit(f"the export should list the closed opportunity: {exported.status_code} {rows[:2]}")

# A batch answers each item as its own request: here a 409 for the closed one.
result = must(
    "batch",
    run_opportunity_batch.sync_detailed(
        client=cm,
        body=BatchRequest(
            items=[
                BatchItem(
                    id=oid,
                    action=BatchAction.CANCEL,
                    body=BatchItemBodyType0.from_dict({"reason_code": "duplicate"}),
                )
            ]
        ),
    ),
    BatchResult,
)
if result.items[0].status != 409 or result.items[0].problem.code != "invalid_transition":
    raise SystemExit(f"the batch item should be refused as its request: {result.to_dict()}")

print(
    f"python client scenario: {closed.reference} created, contact cleared, distributed, "
    "accepted, progressed, closed won, listed as the GET's class; dashboards discriminated; "
    "2 customers imported from CSV, the list exported as CSV, a batch item refused as its request"
)
