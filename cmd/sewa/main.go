// Command sewa runs the relief group's chat bot and its tools.
//
//	sewa                    run the bot (console channel when no token is set)
//	sewa flows check FILE   check a flow file
//
// Every behaviour is one hop from here: the store (sewa/store), the flows and
// their engine (sewa/flows), the runtime (sewa/bot) and one package per
// channel (sewa/bot/console, …).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sewa/bot"
	"sewa/bot/console"
	"sewa/bot/telegram"
	"sewa/bot/whatsapp"
	"sewa/flows"
	"sewa/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes: 1 for a failure while running, 2 for a problem with how Sewa
// was started (configuration, a bad token, a bad flow file).
const (
	exitFailure = 1
	exitUsage   = 2
)

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "flows":
			return flowsCmd(args[1:], stdout, stderr)
		case "sms":
			return smsCmd(ctx, args[1:], getenv, stdin, stdout, stderr)
		case "whatsapp":
			return whatsappCmd(ctx, args[1:], getenv, stdout, stderr)
		case "export":
			return exportCmd(ctx, args[1:], getenv, stdout, stderr)
		case "backup":
			return backupCmd(ctx, args[1:], getenv, stdout, stderr)
		case "restore":
			return restoreCmd(ctx, args[1:], getenv, stdout, stderr)
		case "migrate":
			return migrateCmd(ctx, args[1:], getenv, stdout, stderr)
		case "copy":
			return copyCmd(ctx, args[1:], stdout, stderr)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	cfg, problems, err := loadConfig(args, getenv)
	if err != nil {
		return exitUsage
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "sewa:", p)
		}
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	set, st, code := openFlowsAndStore(ctx, cfg, stderr)
	if code != 0 {
		return code
	}
	defer st.Close()

	opts := []bot.Option{bot.WithLogger(log), bot.WithLang(cfg.Lang), bot.WithLocation(cfg.TZ), bot.WithCoordinators(cfg.Coordinators...), bot.WithHTTP(cfg.HTTP)}
	opts = append(opts, moneyOptions(cfg)...)
	opts = append(opts, scaleOptions(cfg)...)
	opts = append(opts, bot.WithQuietHours(cfg.QuietFrom, cfg.QuietTo), bot.WithDigestAt(cfg.DigestAt), bot.WithReminderSpec(cfg.ReminderSpec))
	webOpts, err := webOptions(cfg, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "sewa: %v\n", err)
		return exitUsage
	}
	opts = append(opts, webOpts...)
	var rt *bot.Runtime // set below; the WhatsApp alert needs it once running
	channels := 0
	if cfg.TelegramTok != "" {
		tg, err := newTelegram(ctx, cfg, st, log)
		if errors.Is(err, telegram.ErrUnauthorized) {
			fmt.Fprintf(stderr, "sewa: %v\n", err)
			return exitUsage
		}
		if err != nil {
			fmt.Fprintf(stderr, "sewa: %v\n", err)
			return exitFailure
		}
		opts = append(opts, bot.WithChannel(tg))
		channels++
	}
	tty := isTerminal(stdin)
	useConsole := cfg.Console == "auto" && channels == 0 && !cfg.WhatsApp || cfg.Console == "1" && (channels == 0 || tty)
	if useConsole {
		opts = append(opts, bot.WithChannel(console.New(stdin, stdout, console.WithPrompt(tty))))
		channels++
		fmt.Fprintf(stdout, "Sewa is running in this terminal (console channel, data in %s). Type /start; /as NAME switches who is speaking; Ctrl-D stops.\n"+
			"To serve Telegram set TELEGRAM_TOKEN; for WhatsApp run `sewa whatsapp link` and set SEWA_WHATSAPP=1.\n", store.RedactURL(cfg.DB))
	}
	if cfg.WhatsApp {
		// Coordinators hear of a dead WhatsApp session on their other channels.
		alert := whatsapp.WithAlert(func(ctx context.Context, text string) {
			if rt != nil {
				rt.AlertCoordinators(ctx, text, "wa")
			}
		})
		wa, closeWA, err := newWhatsApp(ctx, cfg, st, log, alert)
		if err != nil {
			fmt.Fprintf(stderr, "sewa: %v\n", err)
			return exitUsage
		}
		defer closeWA()
		opts = append(opts, bot.WithChannel(wa))
		channels++
	}
	if channels == 0 {
		fmt.Fprintln(stderr, "sewa: no channel to run: set TELEGRAM_TOKEN, or SEWA_WHATSAPP=1, or SEWA_CONSOLE=1")
		return exitUsage
	}
	rt = bot.New(st, set, opts...)
	if err := rt.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("stopped", "err", err)
		return exitFailure
	}
	return 0
}

const usage = `sewa runs the relief group's chat bot.

  sewa                    run the bot (console in this terminal when no TELEGRAM_TOKEN)
  sewa flows check FILE   check a flow file and print each problem with its line
  sewa flows show         print the built-in flow file (a start for your own)
  sewa sms parse [--jsonl]   parse bank SMS from stdin and print their fields as JSON
  sewa sms import FILE    turn an SMS backup into donation cards (no duplicates)
  sewa whatsapp link [--phone 91XXXXXXXXXX]   pair a WhatsApp number (QR code, or a code to type)
  sewa whatsapp unlink    log the WhatsApp number out
  sewa export --from 2026-04-01 --to 2026-04-30 [--out DIR]   open data without personal data
  sewa backup FILE        a consistent copy of the database, while the bot runs
  sewa restore FILE       put a backup back (the bot must be stopped)
  sewa migrate            bring SEWA_DB to this sewa's schema (PostgreSQL: with every sewa stopped)
  sewa copy --from sewa.db --to postgres://user:pass@host/db   move a group to PostgreSQL

Configuration is by environment (flags override): SEWA_DB, SEWA_DATA, TELEGRAM_TOKEN,
TELEGRAM_API_URL, TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET, SEWA_WHATSAPP,
SEWA_CONSOLE, SEWA_COORDINATORS, SEWA_HTTP, SEWA_PUBLIC_URL, SEWA_SMS_TOKEN,
SEWA_ORG_NAME, SEWA_ORG_ADDRESS, SEWA_ORG_80G, SEWA_QUIET_HOURS, SEWA_DIGEST_AT,
SEWA_REMINDER_SCHEDULE, SEWA_TZ, SEWA_FLOWS, SEWA_LANG, SEWA_LOG. See README.md.
`

func newLogger(cfg config, w io.Writer) *slog.Logger {
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	level := slog.LevelInfo
	if cfg.TelegramTok == "" && !cfg.WhatsApp {
		// On the console the chat and the log share a terminal: only
		// trouble is worth interrupting the conversation for.
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// newTelegram connects the Telegram channel: polling by default, a webhook
// served on SEWA_HTTP when TELEGRAM_WEBHOOK_URL is set.
func newTelegram(ctx context.Context, cfg config, st *store.Store, log *slog.Logger) (*telegram.Adapter, error) {
	opts := []telegram.Option{telegram.WithAPIURL(cfg.TelegramURL), telegram.WithCursors(st),
		telegram.WithDataDir(cfg.DataDir), telegram.WithLogger(log)}
	if cfg.WebhookURL != "" {
		opts = append(opts, telegram.WithWebhook(cfg.WebhookURL, cfg.WebhookKey))
	}
	// Telegram down at start (a 5xx, a timeout, no network yet after a
	// reboot) is waited out; only a refused token stops Sewa.
	wait := time.Second
	for {
		tg, err := telegram.New(ctx, cfg.TelegramTok, opts...)
		if err == nil || errors.Is(err, telegram.ErrUnauthorized) {
			return tg, err
		}
		log.Warn("telegram unreachable at start; retrying", "err", err, "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// openFlowsAndStore loads the flows and opens the database, or says why
// not on stderr and returns the exit code.
func openFlowsAndStore(ctx context.Context, cfg config, stderr io.Writer) (*flows.Set, *store.Store, int) {
	set, err := loadFlows(cfg.FlowsFile)
	if err != nil {
		fmt.Fprintf(stderr, "sewa: flows: %v\n", err)
		return nil, nil, exitUsage
	}
	st, err := store.Open(ctx, cfg.DB)
	if err != nil {
		fmt.Fprintf(stderr, "sewa: %v\n", err)
		return nil, nil, exitUsage
	}
	return set, st, 0
}

func loadFlows(path string) (*flows.Set, error) {
	if path == "" {
		return flows.Default(bot.ActionNames())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return flows.Load(data, bot.ActionNames())
}

func flowsCmd(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 2 && args[0] == "check":
		data, err := os.ReadFile(args[1])
		if err != nil {
			fmt.Fprintf(stderr, "sewa flows check: %v\n", err)
			return exitUsage
		}
		if _, err := flows.Load(data, bot.ActionNames()); err != nil {
			var ps flows.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					fmt.Fprintf(stdout, "%s:%s\n", args[1], p)
				}
				fmt.Fprintf(stdout, "%d problem(s)\n", len(ps))
				return exitFailure
			}
			fmt.Fprintf(stderr, "sewa flows check: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return 0
	case len(args) == 1 && args[0] == "show":
		stdout.Write(flows.DefaultYAML())
		return 0
	}
	fmt.Fprintln(stderr, "usage: sewa flows check FILE | sewa flows show")
	return exitUsage
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
