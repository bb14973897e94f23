-- Signing keys are now sealed at rest (AES-GCM under a key derived from
-- SERVICE_AUTH_SECRET). Plaintext keys are dropped; the ring makes a new
-- sealed key at start. Access tokens live at most 5 minutes and sessions
-- are untouched, so signed-in users only get a fresh token.
DELETE FROM signing_keys;
