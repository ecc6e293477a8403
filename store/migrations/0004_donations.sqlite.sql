-- Donations: the same money never makes two cards, receipt numbers run
-- without gaps per financial year, and every bank SMS received is kept.

-- One row per distinct credit: its bank reference ("ref:407312200456") or,
-- without one, amount + account + date + payer. The key is the primary key
-- and is written in the same transaction as the card, so a second arrival of
-- the same money, by any path and from any process, finds the first card
-- instead of making another.
CREATE TABLE donation_keys (
    key         TEXT    PRIMARY KEY,
    card_id     TEXT    NOT NULL REFERENCES cards (id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX donation_keys_card ON donation_keys (card_id);

-- The last receipt number issued per Indian financial year ("2026-27").
-- Taken in the transaction that stores the receipt, so a failed receipt
-- gives its number back and the sequence has no gaps.
CREATE TABLE receipt_seq (
    fy    TEXT    PRIMARY KEY,
    last  INTEGER NOT NULL
);

-- Every receipt issued, with what it said, so it can be sent or drawn again.
CREATE TABLE receipts (
    number     TEXT    PRIMARY KEY,              -- 2026-27/0001
    fy         TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    card_id    TEXT    NOT NULL UNIQUE REFERENCES cards (id),
    issued_at  INTEGER NOT NULL,
    path       TEXT    NOT NULL,                 -- the PDF, under the data directory
    content    TEXT    NOT NULL,                 -- the receipt's fields, JSON
    UNIQUE (fy, seq)
);

-- Every distinct SMS text received (chat, HTTP, import), once, with what
-- became of it: the treasurer can see what was not taken as a donation.
CREATE TABLE sms_received (
    hash         TEXT    PRIMARY KEY,            -- sha256 of the text
    received_at  INTEGER NOT NULL,
    via          TEXT    NOT NULL,               -- http, import, console:asha, ...
    kind         TEXT    NOT NULL,               -- credit, debit, none
    reason       TEXT    NOT NULL DEFAULT '',    -- why it is not a donation
    card_id      TEXT,                           -- the donation card it made or matched
    body         TEXT    NOT NULL
);
CREATE INDEX sms_received_at ON sms_received (received_at);

-- Earlier donations from the same payer, shown to whoever identifies a donor.
CREATE INDEX cards_donation_payer ON cards (lower(json_extract(fields, '$.counterparty')))
    WHERE flow = 'donation';
