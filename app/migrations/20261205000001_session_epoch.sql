-- Revoking every session of an account (an admin's "revoke all", deactivation) bumps its epoch:
-- access tokens and refresh-token families carry the epoch they were issued under and stop
-- working once it moved. Additive: the running release ignores the column.
ALTER TABLE users ADD COLUMN session_epoch INT UNSIGNED NOT NULL DEFAULT 0;
