package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Contact is one person on one channel.
type Contact struct {
	ID       int64
	Channel  string
	Address  string
	Name     string
	Phone    string
	Lang     string
	Roles    []string
	Blocked  time.Time // when the channel told us they blocked the bot
	Created  time.Time
	LastSeen time.Time
}

// Key is how the person is named in logs, events and SEWA_COORDINATORS: "tg:123".
func (c *Contact) Key() string { return c.Channel + ":" + c.Address }

// Has reports whether the contact has role.
func (c *Contact) Has(role string) bool { return slices.Contains(c.Roles, role) }

const contactCols = `id, channel, address, name, phone, lang, roles, blocked_at, created_at, last_seen`

func scanContact(row rowScanner) (*Contact, error) {
	var c Contact
	var roles string
	var blocked sql.NullInt64
	var created, seen int64
	if err := row.Scan(&c.ID, &c.Channel, &c.Address, &c.Name, &c.Phone, &c.Lang, &roles, &blocked, &created, &seen); err != nil {
		return nil, err
	}
	c.Roles = splitRoles(roles)
	c.Blocked = nullMS(blocked)
	c.Created, c.LastSeen = fromMS(created), fromMS(seen)
	return &c, nil
}

// Contact finds the contact at channel and address; ErrNotFound if none.
func (t *Tx) Contact(channel, address string) (*Contact, error) {
	c, err := scanContact(t.queryRow(`SELECT `+contactCols+` FROM contacts WHERE channel = ? AND address = ?`, channel, address))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return c, err
}

// ContactByID finds a contact by id; ErrNotFound if none.
func (t *Tx) ContactByID(id int64) (*Contact, error) {
	c, err := scanContact(t.queryRow(`SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return c, err
}

// SaveContact inserts c (ID 0) or updates it.
func (t *Tx) SaveContact(c *Contact) error {
	if c.ID == 0 {
		err := t.queryRow(`INSERT INTO contacts (channel, address, name, phone, lang, roles, blocked_at, created_at, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			c.Channel, c.Address, c.Name, c.Phone, c.Lang, joinRoles(c.Roles), optMS(c.Blocked), ms(c.Created), ms(c.LastSeen)).Scan(&c.ID)
		if err != nil {
			return fmt.Errorf("insert contact %s: %w", c.Key(), err)
		}
		return nil
	}
	_, err := t.exec(`UPDATE contacts SET name = ?, phone = ?, lang = ?, roles = ?, blocked_at = ?, last_seen = ? WHERE id = ?`,
		c.Name, c.Phone, c.Lang, joinRoles(c.Roles), optMS(c.Blocked), ms(c.LastSeen), c.ID)
	if err != nil {
		return fmt.Errorf("update contact %s: %w", c.Key(), err)
	}
	return nil
}

// CountContacts counts the contacts of a channel.
func (t *Tx) CountContacts(channel string) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM contacts WHERE channel = ?`, channel).Scan(&n)
	return n, err
}

// ContactsWithRole lists the reachable contacts having role, oldest first.
func (t *Tx) ContactsWithRole(role string) ([]*Contact, error) {
	return t.contacts(`SELECT `+contactCols+` FROM contacts
		WHERE blocked_at IS NULL AND (' ' || roles || ' ') `+t.like()+` ? ORDER BY id`, "% "+role+" %")
}

func (t *Tx) contacts(query string, args ...any) ([]*Contact, error) {
	return queryAll(t, query, args, scanContact)
}

// MarkBlocked records that a contact blocked the bot, so nothing more is sent
// or offered to them.
func (t *Tx) MarkBlocked(channel, address string, at time.Time) error {
	_, err := t.exec(`UPDATE contacts SET blocked_at = ? WHERE channel = ? AND address = ?`, ms(at), channel, address)
	return err
}
