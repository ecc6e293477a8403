package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	wastore "go.mau.fi/whatsmeow/store"

	"sewa/bot/whatsapp"
	"sewa/store"
)

const whatsappUsage = `usage:
  sewa whatsapp link [--phone 91XXXXXXXXXX]   link this Sewa to a WhatsApp number (QR code, or a code to type with --phone)
  sewa whatsapp unlink                        log out and forget the link
Both take --db FILE (default SEWA_DB); the link is kept in sewa-whatsapp.db beside it.
`

// whatsappStorePath is the device store in Sewa's data directory (beside
// a SQLite database).
func whatsappStorePath(dir string) string {
	return filepath.Join(dir, whatsapp.StoreFile)
}

// whatsappCmd runs `sewa whatsapp link [--phone N]` and `sewa whatsapp unlink`.
func whatsappCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "link" && args[0] != "unlink" {
		fmt.Fprint(stderr, whatsappUsage)
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("sewa whatsapp "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := strings.TrimSpace(getenv("SEWA_DB"))
	if db == "" {
		db = "sewa.db"
	}
	fs.StringVar(&db, "db", db, "Sewa's database file (SEWA_DB); the link is kept beside it")
	verbose := fs.Bool("v", false, "log what whatsmeow does")
	var phone string
	if sub == "link" {
		fs.StringVar(&phone, "phone", "", "link by typing a code on the phone with this number (country code first, e.g. 919812345678) instead of scanning a QR code")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, whatsappUsage)
		return exitUsage
	}
	if phone != "" {
		p, err := whatsapp.NormalizePhone(phone)
		if err != nil {
			fmt.Fprintf(stderr, "sewa whatsapp link: --phone %v\n", err)
			return exitUsage
		}
		phone = p
	}
	level := slog.LevelError + 4 // quiet: the command says what went wrong itself
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	path := whatsappStorePath(dataDir(db, strings.TrimSpace(getenv("SEWA_DATA"))))
	dev, err := whatsapp.OpenDevice(ctx, path, log)
	if err != nil {
		fmt.Fprintf(stderr, "sewa whatsapp %s: %v\n", sub, err)
		return exitFailure
	}
	defer dev.Close()

	if sub == "unlink" {
		if !dev.Linked() {
			fmt.Fprintln(stdout, "No WhatsApp number is linked; nothing to do.")
			return 0
		}
		number := dev.Store.ID.User
		cli := dev.NewClient(log)
		whatsapp.Prepare(cli)
		if err := whatsapp.Unlink(ctx, cli, dev.Store.Delete); err != nil {
			fmt.Fprintf(stderr, "sewa whatsapp unlink: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "Unlinked WhatsApp number +%s.\n", number)
		return 0
	}

	if dev.Linked() {
		fmt.Fprintf(stderr, "sewa whatsapp link: WhatsApp number +%s is already linked: run `sewa whatsapp unlink` first to link another\n", dev.Store.ID.User)
		return exitUsage
	}
	// How the phone's list of linked devices names this one.
	wastore.SetOSInfo("Sewa", [3]uint32{1, 0, 0})
	cli := dev.NewClient(log)
	whatsapp.Prepare(cli)
	fmt.Fprintf(stdout, "Linking Sewa to WhatsApp (the link is kept in %s)…\n", path)
	jid, err := whatsapp.Link(ctx, cli, phone, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "sewa whatsapp link: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "Linked WhatsApp number +%s. Start Sewa with SEWA_WHATSAPP=1.\n", jid.User)
	return 0
}

// errWhatsAppNotLinked is newWhatsApp's answer when no phone is linked yet.
var errWhatsAppNotLinked = errors.New("WhatsApp: no phone is linked yet: run `sewa whatsapp link` first, then start Sewa again")

// newWhatsApp opens the device store beside cfg.DB and builds the WhatsApp
// channel; the returned func closes the store. Photos are saved under the
// database's directory. The message-id salt is kept in st (see
// whatsapp.MessageID). opts add to the adapter's options (e.g.
// whatsapp.WithAlert).
func newWhatsApp(ctx context.Context, cfg config, st *store.Store, log *slog.Logger, opts ...whatsapp.Option) (*whatsapp.Adapter, func(), error) {
	dev, err := whatsapp.OpenDevice(ctx, whatsappStorePath(cfg.DataDir), log)
	if err != nil {
		return nil, nil, err
	}
	if !dev.Linked() {
		dev.Close()
		return nil, nil, errWhatsAppNotLinked
	}
	salt, err := messageIDSalt(ctx, st)
	if err != nil {
		dev.Close()
		return nil, nil, err
	}
	cli := dev.NewClient(log)
	opts = append([]whatsapp.Option{
		whatsapp.WithLogger(log),
		whatsapp.WithDataDir(cfg.DataDir),
		whatsapp.WithMessageIDSalt(salt),
	}, opts...)
	a := whatsapp.New(cli, dev.Container.LIDMap, opts...)
	log.Info("WhatsApp linked", "number", "+"+dev.Store.ID.User)
	return a, func() { dev.Close() }, nil
}

// saltCursor names the stored salt of WhatsApp message ids. It lives in
// Sewa's own database, with the outbox whose row ids it salts, in the
// cursors table (the store's one key-value place).
const saltCursor = "wa_msgid_salt"

// messageIDSalt returns the database's salt for WhatsApp message ids,
// making one the first time.
func messageIDSalt(ctx context.Context, st *store.Store) ([]byte, error) {
	v, err := st.Cursor(ctx, saltCursor)
	if err != nil {
		return nil, fmt.Errorf("WhatsApp message id salt: %w", err)
	}
	if v == 0 {
		var b [8]byte
		rand.Read(b[:])
		v = int64(binary.BigEndian.Uint64(b[:])>>1) | 1
		if err := st.Tx(ctx, func(tx *store.Tx) error { return tx.SetCursor(saltCursor, v) }); err != nil {
			return nil, fmt.Errorf("WhatsApp message id salt: %w", err)
		}
	}
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}
