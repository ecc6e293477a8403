package store

import (
	"database/sql"
	"errors"
	"time"
)

// Session returns the stored conversation state of a contact ("" if none).
func (t *Tx) Session(contactID int64) (string, error) {
	var state string
	err := t.queryRow(`SELECT state FROM sessions WHERE contact_id = ?`, contactID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return state, err
}

// SaveSession stores a contact's conversation state; "" deletes it.
func (t *Tx) SaveSession(contactID int64, state string, at time.Time) error {
	if state == "" {
		_, err := t.exec(`DELETE FROM sessions WHERE contact_id = ?`, contactID)
		return err
	}
	_, err := t.exec(`INSERT INTO sessions (contact_id, state, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (contact_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`, contactID, state, ms(at))
	return err
}
