package whatsapp_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"sewa/bot/whatsapp"
)

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM whatsmeow_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// setVersion marks the store as written by whatsmeow schema v (readable by
// whatsmeow from compat on), running the statements that make it so first.
func setVersion(t *testing.T, path string, v, compat int, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append(stmts, fmt.Sprintf(`UPDATE whatsmeow_version SET version = %d, compat = %d`, v, compat)) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// The device store opens on a new file (created with its directory and
// brought to whatsmeow's latest schema), reopens with what was stored,
// upgrades an older schema and refuses one written by a newer whatsmeow.
func TestDeviceStoreOpenUpgradeReopen(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	path := filepath.Join(t.TempDir(), "data", whatsapp.StoreFile)

	dev, err := whatsapp.OpenDevice(ctx, path, log)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Linked() {
		t.Error("a new store is linked")
	}
	lid := types.NewJID("987654321098765", types.HiddenUserServer)
	phone := types.NewJID(asha, types.DefaultUserServer)
	if err := dev.Container.LIDMap.PutLIDMapping(ctx, lid, phone); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	latest := schemaVersion(t, path)
	if latest < 11 {
		t.Errorf("schema version %d after opening, want whatsmeow's latest (11 or more)", latest)
	}

	if latest != 11 {
		t.Fatalf("whatsmeow's schema is v%d: make this test undo v%d instead of v11", latest, latest)
	}
	// Undo v11 (ALTER TABLE whatsmeow_contacts ADD COLUMN redacted_phone):
	// the file is then what whatsmeow v10 wrote.
	setVersion(t, path, 10, 8, `ALTER TABLE whatsmeow_contacts DROP COLUMN redacted_phone`)
	dev, err = whatsapp.OpenDevice(ctx, path, log)
	if err != nil {
		t.Fatalf("reopening an older schema: %v", err)
	}
	got, err := dev.Container.LIDMap.GetPNForLID(ctx, lid)
	if err != nil || got != phone {
		t.Errorf("LID map after reopening: %v, %v", got, err)
	}
	src := types.MessageSource{Chat: lid, Sender: lid}
	if pn, err := whatsapp.PhoneOf(ctx, dev.Container.LIDMap, src); err != nil || pn.User != asha {
		t.Errorf("PhoneOf through the reopened map: %v, %v", pn, err)
	}
	dev.Close()
	if v := schemaVersion(t, path); v != latest {
		t.Errorf("schema version %d after the upgrade, want %d", v, latest)
	}

	setVersion(t, path, 99, 99)
	if _, err := whatsapp.OpenDevice(ctx, path, log); err == nil || !strings.Contains(err.Error(), "unsupported database schema version") {
		t.Errorf("a newer schema: %v, want it refused", err)
	}
}

func TestPhoneOf(t *testing.T) {
	ctx := context.Background()
	l := types.NewJID("987654321098765", types.HiddenUserServer)
	cases := []struct {
		name string
		src  types.MessageSource
		want string
		err  error
	}{
		{"phone with device", types.MessageSource{Sender: types.NewADJID(asha, 0, 12)}, asha, nil},
		{"LID with SenderAlt", types.MessageSource{Sender: l, SenderAlt: types.NewADJID(asha, 0, 2)}, asha, nil},
		{"LID without a map", types.MessageSource{Sender: l}, "", whatsapp.ErrUnknownLID},
		{"group server", types.MessageSource{Sender: types.NewJID("120363", types.GroupServer)}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := whatsapp.PhoneOf(ctx, nil, c.src)
			switch {
			case c.want != "" && (err != nil || got.User != c.want || got.Device != 0):
				t.Errorf("got %v, %v; want %s", got, err, c.want)
			case c.want == "" && err == nil:
				t.Errorf("got %v, want an error", got)
			case c.err != nil && !errors.Is(err, c.err):
				t.Errorf("error %v, want %v", err, c.err)
			}
		})
	}
}

func TestJIDOfAndMessageID(t *testing.T) {
	for _, ok := range []string{asha, "+" + asha, "14155550123"} {
		if j, err := whatsapp.JIDOf(ok); err != nil || j.Server != types.DefaultUserServer || strings.HasPrefix(j.User, "+") {
			t.Errorf("JIDOf(%q) = %v, %v", ok, j, err)
		}
	}
	for _, bad := range []string{"", "asha", "09812345678", "91 98123", "1234567890123456"} {
		if _, err := whatsapp.JIDOf(bad); err == nil {
			t.Errorf("JIDOf(%q) accepted", bad)
		}
	}
	a := whatsapp.MessageID([]byte("s1"), 5, 0)
	if len(a) != 22 || !strings.HasPrefix(string(a), "3EB0") || strings.ToUpper(string(a)) != string(a) {
		t.Errorf("id %q is not shaped like whatsmeow's (3EB0 + 18 upper-case hex)", a)
	}
	if a != whatsapp.MessageID([]byte("s1"), 5, 0) {
		t.Error("the same row gives another id")
	}
	for _, other := range []string{string(whatsapp.MessageID([]byte("s2"), 5, 0)), string(whatsapp.MessageID([]byte("s1"), 6, 0)), string(whatsapp.MessageID([]byte("s1"), 5, 1))} {
		if other == string(a) {
			t.Errorf("another salt, row or part gives the same id %s", a)
		}
	}
	if r := whatsapp.MessageID(nil, 0, 0); r == whatsapp.MessageID(nil, 0, 0) {
		t.Error("no outbox row, yet the id is not random")
	}
}
