-- Volunteers and the work given to them. Who holds a card, and until when,
-- are columns of cards (assignee, lease_until); this adds who is paused and
-- the cards offered to volunteers (push assignment).

-- A volunteer's own state beyond their roles: paused (going away for a
-- week) means no offers and no /next until resumed.
CREATE TABLE volunteers (
    contact_id  INTEGER PRIMARY KEY REFERENCES contacts (id),
    paused_at   INTEGER,
    pause_note  TEXT    NOT NULL DEFAULT ''
);

-- A card offered to one volunteer at a time, open until they accept, pass
-- or the offer window ends. A round is one entry of the card into a stage
-- (stage_entered_at): nobody is offered the same card twice in a round.
CREATE TABLE offers (
    id                INTEGER PRIMARY KEY,
    card_id           TEXT    NOT NULL REFERENCES cards (id),
    stage             TEXT    NOT NULL,
    stage_entered_at  INTEGER NOT NULL,
    contact_id        INTEGER NOT NULL REFERENCES contacts (id),
    offered_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'open',   -- open, accepted, passed, expired, withdrawn
    closed_at         INTEGER
);
-- At most one open offer per card.
CREATE UNIQUE INDEX offers_one_open ON offers (card_id) WHERE state = 'open';
CREATE INDEX offers_due ON offers (expires_at) WHERE state = 'open';
CREATE INDEX offers_open_to ON offers (contact_id) WHERE state = 'open';
CREATE INDEX offers_round ON offers (card_id, stage_entered_at);
CREATE INDEX offers_last ON offers (contact_id, offered_at);

-- Leases that run out: held open cards by the end of their lease.
CREATE INDEX cards_lease ON cards (lease_until) WHERE assignee IS NOT NULL AND open = 1;
