-- The login users of the compose setup (Docs/security.md, "Login users"), run by the one-shot `db-users` service
-- as the owner after `amc migrate` has created the NOLOGIN roles:
--
--   psql --set ON_ERROR_STOP=1 --set ingest_password=… --set learn_password=… --set serve_password=… --file db-users.sql
--
-- Idempotent: a missing login is created IN ROLE its component's role; an existing one gets LOGIN, the password
-- from .env and its membership back, so editing .env and running `docker compose up db-users` rotates them.
-- psql does not substitute variables inside a dollar-quoted DO body, so the passwords go in as quoted literals
-- (:'name') into session settings, and the DO block reads them back and quotes them again with format('%L').

SELECT set_config('amc_users.ingest_password', :'ingest_password', false),
       set_config('amc_users.learn_password', :'learn_password', false),
       set_config('amc_users.serve_password', :'serve_password', false)
\gset amc_users_ignored_

DO $$
DECLARE
    login record;
    logins CONSTANT jsonb := jsonb_build_array(
        jsonb_build_object('name', 'amc_ingest_login', 'role', 'amc_ingest',
                           'password', current_setting('amc_users.ingest_password')),
        jsonb_build_object('name', 'amc_learner_login', 'role', 'amc_learner',
                           'password', current_setting('amc_users.learn_password')),
        jsonb_build_object('name', 'amc_serve_login', 'role', 'amc_serve',
                           'password', current_setting('amc_users.serve_password')));
BEGIN
    -- Check everything before changing anything.
    FOR login IN SELECT * FROM jsonb_to_recordset(logins) AS l (name text, role text, password text) LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = login.role) THEN
            RAISE EXCEPTION 'role % is missing: run `amc migrate` first', login.role;
        END IF;
        IF coalesce(login.password, '') = '' OR login.password ILIKE '%change-me%' THEN
            RAISE EXCEPTION 'no password for %: set it in Deploy/compose/.env', login.name;
        END IF;
    END LOOP;
    FOR login IN SELECT * FROM jsonb_to_recordset(logins) AS l (name text, role text, password text) LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = login.name) THEN
            EXECUTE format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
                           login.name, login.password);
            IF NOT pg_has_role(login.name, login.role, 'MEMBER') THEN
                EXECUTE format('GRANT %I TO %I', login.role, login.name);
            END IF;
            RAISE NOTICE 'login % (in %): password set', login.name, login.role;
        ELSE
            EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', login.name, login.password, login.role);
            RAISE NOTICE 'login % (in %): created', login.name, login.role;
        END IF;
    END LOOP;
END;
$$;

-- The settings hold the passwords for the rest of this session only; clear them anyway.
RESET amc_users.ingest_password;
RESET amc_users.learn_password;
RESET amc_users.serve_password;
