-- 0002_webhook_secret_keys.sql — webhook signing secrets encrypted at rest.
--
-- secret and previous_secret hold either the plain "whsec_..." text (key id
-- NULL: written before a key was configured, or in development without one)
-- or "v1:<base64 nonce, ciphertext, tag>" sealed with AES-256-GCM under the
-- key the *_key_id column names (core/secretbox.h, core/whsecret.h). The
-- associated data binds each value to its row, column and key id, so a value
-- copied elsewhere does not decrypt. `acmectl migrate` and `acmectl webhooks
-- rotate-key` encrypt the plain rows once a key is configured.

ALTER TABLE webhooks
    ADD COLUMN secret_key_id          text,
    ADD COLUMN previous_secret_key_id text;

-- acmectl:down
-- Refused while a secret is encrypted: without its key id column it could
-- never be read again. Rotate to plain text first (not provided: delete and
-- re-add the endpoint), or stay on this version.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks
               WHERE secret_key_id IS NOT NULL OR previous_secret_key_id IS NOT NULL) THEN
        RAISE EXCEPTION 'webhook secrets are encrypted at rest; reverting 0002 would make them unreadable';
    END IF;
END
$$;
ALTER TABLE webhooks
    DROP COLUMN previous_secret_key_id,
    DROP COLUMN secret_key_id;
