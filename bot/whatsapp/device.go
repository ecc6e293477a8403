package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	waLog "go.mau.fi/whatsmeow/util/log"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// StoreFile is the name of the device store, beside Sewa's own database.
const StoreFile = "sewa-whatsapp.db"

// dsnOptions are those of Sewa's store: whatsmeow needs foreign keys, and
// _txlock=immediate makes its read-then-write transactions wait for the
// write lock instead of failing with "database is locked".
const dsnOptions = "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"

// Device is an opened device store: the linked (or not yet linked) device
// and the database it lives in.
type Device struct {
	Container *sqlstore.Container
	Store     *store.Device
}

// OpenDevice opens (creating and upgrading if needed) the device store at
// path with the pure-Go SQLite driver and returns its first device; an
// unlinked store gives a new, unsaved device (Store.ID == nil).
func OpenDevice(ctx context.Context, path string, log *slog.Logger) (*Device, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("whatsapp device store: %w", err)
	}
	// The dialect is also the database/sql driver name: it must be "sqlite".
	c, err := sqlstore.New(ctx, "sqlite", "file:"+path+dsnOptions, Logger(log, "Database"))
	if err != nil {
		return nil, fmt.Errorf("whatsapp device store %s: %w", path, err)
	}
	dev, err := c.GetFirstDevice(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("whatsapp device store %s: %w", path, err)
	}
	return &Device{Container: c, Store: dev}, nil
}

// Linked says a phone has been linked to this device.
func (d *Device) Linked() bool { return d.Store.ID != nil }

// NewClient makes the whatsmeow client of the device. It does no network I/O.
func (d *Device) NewClient(log *slog.Logger) *whatsmeow.Client {
	return whatsmeow.NewClient(d.Store, Logger(log, "Client"))
}

// Close closes the database.
func (d *Device) Close() error { return d.Container.Close() }

// Logger lets whatsmeow log through slog. whatsmeow's info level is chatty,
// so it goes to slog's debug level and its debug level (every frame) below
// that; warnings and errors stay what they are.
func Logger(l *slog.Logger, module string) waLog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return slogger{l: l, module: "whatsmeow/" + module}
}

type slogger struct {
	l      *slog.Logger
	module string
}

func (s slogger) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if s.l.Enabled(ctx, level) {
		s.l.Log(ctx, level, fmt.Sprintf(msg, args...), "module", s.module)
	}
}

func (s slogger) Errorf(msg string, args ...any) { s.log(slog.LevelError, msg, args) }
func (s slogger) Warnf(msg string, args ...any)  { s.log(slog.LevelWarn, msg, args) }
func (s slogger) Infof(msg string, args ...any)  { s.log(slog.LevelDebug, msg, args) }
func (s slogger) Debugf(msg string, args ...any) { s.log(slog.LevelDebug-4, msg, args) }

func (s slogger) Sub(module string) waLog.Logger {
	return slogger{l: s.l, module: s.module + "/" + module}
}
