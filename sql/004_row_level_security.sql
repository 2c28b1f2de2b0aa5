-- Tamper-proof tenant context and Row-Level Security.
--
-- The application sets, inside an explicit transaction and transaction-locally,
--   app.tenant_token = <cognito sub>.<transaction id>.<expiry, unix seconds>.<hex HMAC-SHA256>
-- where the HMAC (over "<sub>.<transaction id>.<expiry>") is made with a key kept in Secrets
-- Manager and in app_private.signing_keys, which app_user cannot read. SQL running as app_user
-- can set app.tenant_token to anything (any role can call set_config), but it cannot forge a
-- signature, and a token seen elsewhere is useless: it names another transaction.
-- Anything else (no token, an empty one after a transaction-local value ended, a malformed,
-- expired, replayed or forged token, a sub without tenant) yields NULL: zero rows.

SET LOCAL ROLE claims_owner;

CREATE FUNCTION app_private.current_tenant() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    token   text := NULLIF(current_setting('app.tenant_token', true), '');
    parts   text[];
    signing text;
BEGIN
    IF token IS NULL THEN
        RETURN NULL;
    END IF;
    parts := string_to_array(token, '.');
    IF array_length(parts, 1) IS DISTINCT FROM 4
       OR parts[2] !~ '^[0-9]{1,20}$'
       OR parts[3] !~ '^[0-9]{1,12}$'
       OR parts[4] !~ '^[0-9a-f]{64}$' THEN
        RETURN NULL;
    END IF;
    IF parts[2] <> pg_current_xact_id()::text THEN
        RETURN NULL;
    END IF;
    IF to_timestamp(parts[3]::bigint) < clock_timestamp() THEN
        RETURN NULL;
    END IF;
    SELECT key INTO signing FROM app_private.signing_keys WHERE name = 'tenant_token';
    IF signing IS NULL
       OR encode(app_private.hmac(parts[1] || '.' || parts[2] || '.' || parts[3], signing, 'sha256'), 'hex') <> parts[4] THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT u.tenant_id FROM claims.user_tenants u WHERE u.user_sub = parts[1]);
END
$$;

REVOKE EXECUTE ON FUNCTION app_private.current_tenant() FROM PUBLIC;
GRANT USAGE ON SCHEMA app_private TO claims_api;
GRANT EXECUTE ON FUNCTION app_private.current_tenant() TO claims_api;

ALTER TABLE claims.claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE claims.claims FORCE ROW LEVEL SECURITY;
ALTER TABLE claims.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE claims.tenants FORCE ROW LEVEL SECURITY;

-- The scalar subselect makes the tenant lookup an InitPlan: evaluated once per statement, not
-- once per row.
CREATE POLICY tenant_isolation ON claims.claims
    FOR ALL
    USING (tenant_id = (SELECT app_private.current_tenant()))
    WITH CHECK (tenant_id = (SELECT app_private.current_tenant()));

CREATE POLICY tenant_isolation ON claims.tenants
    FOR ALL
    USING (tenant_id = (SELECT app_private.current_tenant()))
    WITH CHECK (tenant_id = (SELECT app_private.current_tenant()));

-- claims_api reads through the policies; app_user reaches nothing but schema api.
GRANT USAGE ON SCHEMA claims TO claims_api;
GRANT SELECT ON claims.claims, claims.tenants TO claims_api;
