-- The audit table of the postgres sink (SPEC 6 and 9). {{table}} and {{index}} are replaced by the
-- configured table name and an index-name prefix, both validated and quoted by the gateway.
--
-- `record` is the record exactly as hashed, as JSON text: the chain is verified from it alone. It is
-- text, not jsonb, because jsonb refuses the JSON escape \u0000 that a client-supplied field (a
-- grant reason) may carry, and one such record would fail its whole group-commit batch. The other
-- columns copy fields of `record` for lookups; `audit verify` checks that they still agree with it.
-- For ad-hoc SQL, `record::jsonb` works on every record without a NUL character.
--
-- Rows of several replicas share the table: each `instance` is its own hash chain. The primary key
-- makes a second writer using the same instance name fail instead of forking that chain.
CREATE TABLE IF NOT EXISTS {{table}} (
  instance     text        NOT NULL,
  seq          bigint      NOT NULL,
  id           text        NOT NULL,
  time         timestamptz NOT NULL,
  event        text        NOT NULL,
  outcome      text        NOT NULL,
  code         text,
  team_id      text,
  user_id      text,
  pkb_id       text,
  token_pkb_id text,
  token_id     text,
  request_id   text,
  prev_hash    char(64)    NOT NULL,
  hash         char(64)    NOT NULL,
  record       text        NOT NULL,
  PRIMARY KEY (instance, seq)
);

-- GET /audit?pkbId=: a patient's records newest first, by the addressed patient or the token's one.
CREATE INDEX IF NOT EXISTS {{index}}_pkb_time ON {{table}} (pkb_id, time DESC) WHERE pkb_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS {{index}}_token_pkb_time ON {{table}} (token_pkb_id, time DESC) WHERE token_pkb_id IS NOT NULL;
