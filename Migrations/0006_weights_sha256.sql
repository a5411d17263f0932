-- Weights checksums anyone can check: `sha256` of model_versions and model_baselines becomes the hex SHA-256 of the
-- weights blob itself, what `sha256sum` prints for the file `amc model export` writes. Earlier releases stored the
-- hex SHA-256 of the *hex text* of that digest. See Docs/learning.md (Registry).
--
-- Each row is verified against its blob before it is rewritten: a row whose stored value is the earlier definition
-- of its blob gets the new one; a row already in the new form is left as it is; a row that matches neither — its
-- blob no longer matches what was stored, as after storage corruption — keeps its value, so it goes on failing its
-- check (workers refuse it, `amc model activate` refuses it) instead of having its damage certified by a new
-- checksum. Such rows are named in a WARNING.
--
-- Both tables are immutable by trigger (0002). The migration runs as their owner, so it switches each trigger off
-- for its UPDATE and back on; all of it is one transaction, so no other session ever sees a table unguarded (the
-- ALTER TABLE … DISABLE TRIGGER holds a SHARE ROW EXCLUSIVE lock until commit: readers go on, writers such as a
-- learner's INSERT wait for the rewrite, a few milliseconds per version).

DO $$
DECLARE
    unverified text;
BEGIN
    SELECT string_agg(format('model version %s', version), ', ' ORDER BY version) INTO unverified
    FROM model_versions
    WHERE sha256 <> encode(sha256(weights), 'hex')
      AND sha256 <> encode(sha256(convert_to(encode(sha256(weights), 'hex'), 'UTF8')), 'hex');
    IF unverified IS NOT NULL THEN
        RAISE WARNING 'weights do not match their stored sha256, left unchanged (they stay refused): %', unverified;
    END IF;
    SELECT string_agg(format('%s baseline of version %s', modality, version), ', ' ORDER BY version, modality)
        INTO unverified
    FROM model_baselines
    WHERE sha256 <> encode(sha256(weights), 'hex')
      AND sha256 <> encode(sha256(convert_to(encode(sha256(weights), 'hex'), 'UTF8')), 'hex');
    IF unverified IS NOT NULL THEN
        RAISE WARNING 'weights do not match their stored sha256, left unchanged: %', unverified;
    END IF;
END;
$$;

ALTER TABLE model_versions DISABLE TRIGGER model_versions_immutable;
UPDATE model_versions SET sha256 = encode(sha256(weights), 'hex')
WHERE sha256 = encode(sha256(convert_to(encode(sha256(weights), 'hex'), 'UTF8')), 'hex');
ALTER TABLE model_versions ENABLE TRIGGER model_versions_immutable;

ALTER TABLE model_baselines DISABLE TRIGGER model_baselines_immutable;
UPDATE model_baselines SET sha256 = encode(sha256(weights), 'hex')
WHERE sha256 = encode(sha256(convert_to(encode(sha256(weights), 'hex'), 'UTF8')), 'hex');
ALTER TABLE model_baselines ENABLE TRIGGER model_baselines_immutable;
