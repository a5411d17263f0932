-- The catalog's revision as one counter (Docs/catalog.md, "Revision"): every statement that changes `images`
-- (insert, update, delete, truncate) adds one in the same transaction, so a committed change is seen together with
-- its revision and a rolled-back one leaves no trace. Readers that poll for catalog changes — every scoring worker
-- each `serve.catalog-refresh-seconds`, the learner every cycle — read one row instead of aggregating the whole
-- table (`count(*)` and two `max()` over `images`, which grew with the catalog: a second per check at ten million
-- images, every cycle of a learner woken each second or two).
CREATE TABLE catalog_revision (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    revision   bigint      NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
-- Starts at 1 so that it differs from the revision strings of earlier releases only once, at the upgrade (a
-- running worker then reloads its catalog once).
INSERT INTO catalog_revision (revision) VALUES (1);

COMMENT ON TABLE catalog_revision IS
    'One row: the revision of the images table, increased by every statement that changes it (Docs/catalog.md).';

CREATE FUNCTION amc_advance_catalog_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_revision SET revision = revision + 1, changed_at = now();
    RETURN NULL;
END;
$$;
CREATE TRIGGER images_advance_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON images
    FOR EACH STATEMENT EXECUTE FUNCTION amc_advance_catalog_revision();

-- Grants (the matrix of 0005–0010, extended): readers of the catalog read its revision; `amc catalog import`, the
-- one writer of images, advances it (the trigger runs with the writer's rights).
GRANT SELECT ON catalog_revision TO amc_learner, amc_serve, amc_operator;
GRANT UPDATE (revision, changed_at) ON catalog_revision TO amc_operator;
