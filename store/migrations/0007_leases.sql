-- Several sewa processes on one database (PostgreSQL): leases name the one
-- process that does a singular job (polling Telegram, the scheduled jobs,
-- the WhatsApp connection) and pass to another when it stops renewing; the
-- outbox rows a process is sending are claimed by it until claimed_until,
-- so no other process sends them meanwhile.

CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,   -- telegram:poll, scheduler, whatsapp
    holder      TEXT    NOT NULL,      -- host:pid:random of the process
    expires_at  INTEGER NOT NULL
);

ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
-- A chat's pending rows in order: a row is claimed only when no earlier
-- row of its chat is held elsewhere or waiting for a retry.
CREATE INDEX outbox_chat ON outbox (channel, address, id) WHERE status = 'pending';
-- A chat's last message, so that processes keep to the platform's per-chat
-- rate between them.
CREATE INDEX outbox_chat_sent ON outbox (channel, address, sent_at) WHERE status = 'sent';
