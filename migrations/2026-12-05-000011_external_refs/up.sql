-- External references (DOMAIN.md): each org's own id for an opportunity or a
-- customer it can see (its CRM's), so that an integrator syncs without a
-- mapping table. One reference per org and resource, unique per org and
-- resource kind, and read only by that org. Case matters: CRM ids are
-- case-sensitive.
CREATE TABLE external_refs (
    org_id       uuid NOT NULL REFERENCES orgs (id),
    kind         text NOT NULL CHECK (kind IN ('customer', 'opportunity')),
    resource_id  uuid NOT NULL,
    external_ref text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, kind, resource_id)
);
-- A second create with the same reference finds the first (and concurrent
-- ones wait on this index for it to commit).
CREATE UNIQUE INDEX external_refs_by_ref ON external_refs (org_id, kind, external_ref);
