// One lifecycle through a client generated from openapi/openapi.json:
// create → distribute → accept → progress → close. Type-checked by tsc,
// run by `make contract` against a live server with demo tokens.
import createClient from "openapi-fetch";
// Lists also answer text/csv (Accept: text/csv); this client reads JSON, so
// it is created for JSON (and problem+json) alone and its lists are typed
// as pages.
import type { components, paths } from "./schema";

const baseUrl = process.env.PRM_URL ?? "http://127.0.0.1:8080";
const as = (token: string | undefined) =>
  createClient<paths, "application/json" | "application/problem+json">({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

const cm = as(process.env.CM_TOKEN);
const partner = as(process.env.PARTNER_TOKEN);

function must<T>(what: string, r: { data?: T; error?: unknown; response: Response }): T {
  if (r.data === undefined) {
    throw new Error(`${what}: HTTP ${r.response.status} ${JSON.stringify(r.error)}`);
  }
  return r.data;
}

const customer = must(
  "create customer",
  await cm.POST("/api/v1/customers", { body: { name: `TS Client Co ${Date.now()}`, country: "DE" } }),
);
const created = must(
  "create opportunity",
  await cm.POST("/api/v1/opportunities", {
    body: {
      topic: "Opened from the generated TypeScript client",
      customer_id: customer.id,
      estimated_revenue: { amount: "15000.00", currency: "EUR" },
      product_lines: ["cloud"],
    },
  }),
);
const id = created.id;
const me = must("me", await partner.GET("/api/v1/me"));
const delivered = must(
  "distribute",
  await cm.POST("/api/v1/opportunities/{id}/distribute", {
    params: { path: { id } },
    body: { partner_id: me.org.id },
  }),
);
if (delivered.status !== "delivered") throw new Error(`expected delivered, got ${delivered.status}`);
const accepted = must("accept", await partner.POST("/api/v1/opportunities/{id}/accept", { params: { path: { id } } }));
if (!accepted.allowed_actions.includes("close")) throw new Error("close should be allowed once accepted");
must(
  "progress",
  await partner.POST("/api/v1/opportunities/{id}/progress", {
    params: { path: { id } },
    body: { development_phase: "negotiate", win_probability: 80, progress_details: "Terms agreed" },
  }),
);
const closed = must(
  "close",
  await partner.POST("/api/v1/opportunities/{id}/close", {
    params: { path: { id } },
    body: { outcome: "won", reason: "signed", actual_revenue: { amount: "14500.00", currency: "EUR" } },
  }),
);
if (closed.status !== "won" || closed.actual_revenue?.amount !== "14500.00") {
  throw new Error(`unexpected close: ${JSON.stringify(closed)}`);
}
// A list's status filter is an array of the status enum, sent as documented
// (`style: form, explode: false`: `status=won,lost`); its items are the
// `Opportunity` schema a GET returns.
const lists = createClient<paths, "application/json" | "application/problem+json">({
  baseUrl,
  headers: { Authorization: `Bearer ${process.env.PARTNER_TOKEN}` },
  querySerializer: { array: { style: "form", explode: false } },
});
const page = must(
  "list",
  await lists.GET("/api/v1/opportunities", { params: { query: { status: ["won", "lost"], limit: 200 } } }),
);
const listed: components["schemas"]["Opportunity"] | undefined = page.items.find((o) => o.id === id);
if (listed?.status !== "won") throw new Error(`the closed opportunity should be listed as won: ${JSON.stringify(listed)}`);
// Errors come back typed as problems.
const again = await partner.POST("/api/v1/opportunities/{id}/close", {
  params: { path: { id } },
  body: { outcome: "won", reason: "twice" },
});
if (again.response.status !== 409 || again.error?.code !== "invalid_transition") {
  throw new Error(`expected a 409 invalid_transition, got ${again.response.status}`);
}
console.log(`typescript client scenario: ${closed.reference} created, distributed, accepted, progressed, closed won; 1 passed, 0 failed`);
