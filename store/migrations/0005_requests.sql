-- Ration-kit requests end to end: stock held per card, deliveries whose
-- requester was asked to confirm receipt, and who wants to hear when the
-- group posts about its deliveries.

-- What one card holds (reserved minus released minus delivered) is summed
-- over its own few ledger lines.
CREATE INDEX stock_ledger_card ON stock_ledger (card_id) WHERE card_id IS NOT NULL;

-- A delivered request whose requester was asked "did it reach you?": while
-- the question is open they may answer /received or /notreceived.
CREATE TABLE receipt_asks (
    contact_id  INTEGER NOT NULL REFERENCES contacts (id),
    card_id     TEXT    NOT NULL REFERENCES cards (id),
    asked_at    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, card_id)
);
CREATE INDEX receipt_asks_at ON receipt_asks (asked_at);

-- Updates about deliveries: 1 = send me the group's posts, 0 = do not, even
-- when a donation card says the donor wanted them.
CREATE TABLE update_subscribers (
    contact_id  INTEGER PRIMARY KEY REFERENCES contacts (id),
    wants       INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    via         TEXT    NOT NULL DEFAULT ''
);

-- Is this contact a donor (the requester of a donation card)? Closed cards
-- included, which the open-only cards_requester index leaves out.
CREATE INDEX cards_requester_flow ON cards (requester, flow) WHERE requester IS NOT NULL;
