package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"time"

	"sewa/bot"
	"sewa/store"
)

// backupCmd makes a consistent copy of the database while the bot runs:
//
//	sewa backup FILE
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: sewa backup FILE   (a consistent copy of SEWA_DB, taken while sewa runs)")
		return exitUsage
	}
	cfg, ok := toolConfig(getenv, stderr)
	if !ok {
		return exitUsage
	}
	dest := args[0]
	if err := store.BackupFile(ctx, cfg.DB, dest); err != nil {
		fmt.Fprintf(stderr, "sewa backup: %v\n", err)
		return exitFailure
	}
	info, err := store.CheckFile(ctx, dest)
	if err != nil {
		fmt.Fprintf(stderr, "sewa backup: the copy does not check out: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "Backed up %s to %s: integrity ok, schema version %d, %d cards, %d card events.\n",
		cfg.DB, dest, info.Version, info.Cards, info.Events)
	return 0
}

// restoreCmd puts a backup in place of the database; it refuses while sewa
// runs on it:
//
//	sewa restore FILE
func restoreCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintln(stderr, "usage: sewa restore FILE   (replace SEWA_DB with a backup; stop sewa first)")
		return exitUsage
	}
	cfg, ok := toolConfig(getenv, stderr)
	if !ok {
		return exitUsage
	}
	kept, err := store.Restore(ctx, args[0], cfg.DB, time.Now())
	if errors.Is(err, store.ErrInUse) {
		fmt.Fprintf(stderr, "sewa restore: %s is open in a running sewa; stop it first (e.g. systemctl stop sewa), then run this again. Nothing was changed.\n", cfg.DB)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "sewa restore: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "Restored %s from %s.\n", cfg.DB, args[0])
	if kept != "" {
		fmt.Fprintf(stdout, "The database it replaced is kept as %s.\n", kept)
	}
	return 0
}

// webOptions are the board's and the backup's settings: daily backups in
// backups/ beside the database (the last 7 kept), and the board's public
// address from SEWA_PUBLIC_URL.
func webOptions(cfg config, getenv func(string) string) ([]bot.Option, error) {
	var opts []bot.Option
	if !store.IsPostgres(cfg.DB) { // PostgreSQL is backed up with pg_dump
		opts = append(opts, bot.WithDailyBackup(filepath.Join(filepath.Dir(cfg.DB), "backups"), 7))
	}
	if pub := getenv("SEWA_PUBLIC_URL"); pub != "" {
		u, err := url.Parse(pub)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("SEWA_PUBLIC_URL: %q is not an http(s) address like https://sewa.example.org", pub)
		}
		opts = append(opts, bot.WithPublicURL(pub))
	}
	return opts, nil
}
