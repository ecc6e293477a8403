package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"sewa/store"
)

// exportCmd writes the open data of a period:
//
//	sewa export --from 2026-04-01 --to 2026-04-30 [--out DIR]
//
// Both days are included, in SEWA_TZ. The files and what "no personal data"
// means are described in store/export.go and in datapackage.json.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sewa export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromFlag := fs.String("from", "", "first day, e.g. 2026-04-01")
	toFlag := fs.String("to", "", "last day, included, e.g. 2026-04-30")
	out := fs.String("out", "", "directory to write the files to (default: sewa-open-data-FROM-to-TO)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sewa export --from 2026-04-01 --to 2026-04-30 [--out DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || *fromFlag == "" || *toFlag == "" {
		fs.Usage()
		return exitUsage
	}
	cfg, ok := toolConfig(getenv, stderr)
	if !ok {
		return exitUsage
	}
	from, err1 := time.ParseInLocation(time.DateOnly, *fromFlag, cfg.TZ)
	to, err2 := time.ParseInLocation(time.DateOnly, *toFlag, cfg.TZ)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(stderr, "sewa export: write days as 2026-04-01")
		return exitUsage
	}
	if to.Before(from) {
		fmt.Fprintln(stderr, "sewa export: --to is before --from")
		return exitUsage
	}
	dir := *out
	if dir == "" {
		dir = fmt.Sprintf("sewa-open-data-%s-to-%s", *fromFlag, *toFlag)
	}
	st, err := openExisting(ctx, cfg.DB)
	if err != nil {
		fmt.Fprintf(stderr, "sewa export: %v\n", err)
		return exitFailure
	}
	defer st.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "sewa export: %v\n", err)
		return exitFailure
	}
	var files []*os.File
	sum, err := st.Export(ctx, store.ExportOptions{From: from, To: to.AddDate(0, 0, 1), Loc: cfg.TZ}, func(name string) (io.Writer, error) {
		f, err := os.Create(filepath.Join(dir, name))
		if err == nil {
			files = append(files, f)
		}
		return f, err
	})
	for _, f := range files {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sewa export: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "Open data for %s to %s written to %s:\n", *fromFlag, *toFlag, dir)
	fmt.Fprintf(stdout, "  %s  %d requests\n  %s  %d deliveries\n  %s  %d donations\n  %s  %d ledger lines\n  %s  what every column means\n",
		store.ExportRequests, sum.Requests, store.ExportDeliveries, sum.Deliveries, store.ExportDonations, sum.Donations,
		store.ExportStock, sum.Stock, store.ExportDataPackage)
	fmt.Fprintln(stdout, "No names, phones, addresses, PANs, UPI ids or photos; ids are salted hashes; rare localities read \"other\".")
	return 0
}

// toolConfig reads the environment for a subcommand that works on the
// database (SEWA_DB, SEWA_TZ), reporting problems one line each.
func toolConfig(getenv func(string) string, stderr io.Writer) (config, bool) {
	cfg, problems, err := loadConfig(nil, getenv)
	if err != nil {
		return cfg, false
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, "sewa:", p)
	}
	return cfg, len(problems) == 0
}

// openExisting opens the store at path, refusing to create a new, empty one
// (a wrong SEWA_DB would otherwise export or back up nothing, quietly).
func openExisting(ctx context.Context, path string) (*store.Store, error) {
	if _, err := os.Stat(path); err != nil && !store.IsPostgres(path) {
		return nil, fmt.Errorf("no database at %s (set SEWA_DB): %w", path, err)
	}
	return store.Open(ctx, path)
}
