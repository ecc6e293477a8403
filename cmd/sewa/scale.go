package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"sewa/bot"
	"sewa/store"
)

// Outgrowing one machine: PostgreSQL (SEWA_DB=postgres://…), several sewa
// processes on it, and the two commands that go with it.

// dataDir is where files live that are not in the database (photos,
// receipts, the WhatsApp device store): SEWA_DATA, else the directory of
// the SQLite file, else (PostgreSQL) ./sewa-data. Processes on several
// machines need it on shared storage for receipts and photos.
func dataDir(db, data string) string {
	switch {
	case data != "":
		return data
	case store.IsPostgres(db):
		return "sewa-data"
	}
	return filepath.Dir(db)
}

// scaleOptions are the leases of the channels that one process at a time
// may pull from, when several processes share a PostgreSQL database:
// Telegram polling (a webhook needs none) and the WhatsApp connection.
func scaleOptions(cfg config) []bot.Option {
	var opts []bot.Option
	if cfg.TelegramTok != "" && cfg.WebhookURL == "" {
		opts = append(opts, bot.WithReceiveLease("tg", "telegram:poll"))
	}
	if cfg.WhatsApp {
		opts = append(opts, bot.WithConnectionLease("wa", "whatsapp"))
	}
	return opts
}

// migrateCmd brings SEWA_DB to this program's schema:
//
//	sewa migrate
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: sewa migrate   (bring SEWA_DB to this sewa's schema; on PostgreSQL stop every sewa first)")
		return exitUsage
	}
	cfg, ok := toolConfig(getenv, stderr)
	if !ok {
		return exitUsage
	}
	from, to, err := store.Migrate(ctx, cfg.DB)
	switch {
	case errors.Is(err, store.ErrInUseByOthers):
		fmt.Fprintf(stderr, "sewa migrate: sewa is running on %s; stop every sewa process first, then run this again. Nothing was changed.\n", store.RedactURL(cfg.DB))
		return exitFailure
	case err != nil:
		fmt.Fprintf(stderr, "sewa migrate: %v\n", err)
		return exitFailure
	case from == to:
		fmt.Fprintf(stdout, "%s is at schema version %d, this sewa's: nothing to do.\n", store.RedactURL(cfg.DB), to)
	default:
		fmt.Fprintf(stdout, "Migrated %s from schema version %d to %d.\n", store.RedactURL(cfg.DB), from, to)
	}
	return 0
}

// copyCmd moves a group from its SQLite file to PostgreSQL:
//
//	sewa copy --from sewa.db --to postgres://user:pass@host/db
func copyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sewa copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the SQLite file to copy (stop sewa first)")
	to := fs.String("to", "", "an empty PostgreSQL database, postgres://user:pass@host/db")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *from == "" || *to == "" {
		fmt.Fprintln(stderr, "usage: sewa copy --from sewa.db --to postgres://user:pass@host/db")
		return exitUsage
	}
	if store.IsPostgres(*from) || !store.IsPostgres(*to) {
		fmt.Fprintln(stderr, "sewa copy: --from is a SQLite file and --to a postgres:// URL")
		return exitUsage
	}
	if _, err := os.Stat(*from); err != nil {
		fmt.Fprintf(stderr, "sewa copy: %v\n", err)
		return exitUsage
	}
	src, err := store.Open(ctx, *from)
	if err != nil {
		fmt.Fprintf(stderr, "sewa copy: %v\n", err)
		return exitFailure
	}
	defer src.Close()
	if _, _, err := store.Migrate(ctx, *to); err != nil {
		fmt.Fprintf(stderr, "sewa copy: %v\n", err)
		return exitFailure
	}
	dst, err := store.Open(ctx, *to)
	if err != nil {
		fmt.Fprintf(stderr, "sewa copy: %v\n", err)
		return exitFailure
	}
	defer dst.Close()
	tables, err := src.CopyTo(ctx, dst, func(t store.CopyTable) {
		fmt.Fprintf(stdout, "  %-20s %9d rows\n", t.Name, t.Rows)
	})
	if err != nil {
		fmt.Fprintf(stderr, "sewa copy: %v\nNothing was written to %s.\n", err, store.RedactURL(*to))
		return exitFailure
	}
	var rows int64
	for _, t := range tables {
		rows += t.Rows
	}
	fmt.Fprintf(stdout, "Copied %s to %s: %d tables, %d rows, every count checked.\n"+
		"Now set SEWA_DB=%s (and SEWA_DATA to where the photos and receipts are) and start sewa.\n",
		*from, store.RedactURL(*to), len(tables), rows, store.RedactURL(*to))
	return 0
}
