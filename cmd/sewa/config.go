package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"sewa/bot"
	"sewa/flows"
)

// config is everything the environment and flags say; flags override.
type config struct {
	DB           string
	DataDir      string // photos, receipts, the WhatsApp device store (SEWA_DATA)
	TelegramTok  string
	TelegramURL  string
	WebhookURL   string
	WebhookKey   string
	WhatsApp     bool
	Console      string // "auto", "1", "0"
	Coordinators []string
	HTTP         string
	SMSToken     string
	OrgName      string // the group on its receipts (SEWA_ORG_NAME)
	OrgAddress   string
	Org80G       string // registration and 80G details
	TZ           *time.Location
	QuietFrom    string // stale-card reminders wait from QuietFrom to QuietTo (SEWA_QUIET_HOURS)
	QuietTo      string
	DigestAt     string // the coordinators' daily digest, "08:00" or "off" (SEWA_DIGEST_AT)
	ReminderSpec string // cron schedule of the stale-card check (SEWA_REMINDER_SCHEDULE)
	FlowsFile    string
	Lang         string
	LogJSON      bool
}

// loadConfig reads the environment, then flags, and returns every problem
// found, one line each.
func loadConfig(args []string, getenv func(string) string) (config, []string, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	var c config
	var coordinators, tz string
	fs := flag.NewFlagSet("sewa", flag.ContinueOnError)
	fs.StringVar(&c.DB, "db", env("SEWA_DB", "sewa.db"), "database file, or a postgres:// URL (SEWA_DB)")
	fs.StringVar(&c.DataDir, "data", env("SEWA_DATA", ""), "directory of photos and receipts (SEWA_DATA; default: beside the SQLite file, ./sewa-data with PostgreSQL)")
	fs.StringVar(&c.TelegramTok, "telegram-token", env("TELEGRAM_TOKEN", ""), "Telegram bot token (TELEGRAM_TOKEN)")
	fs.StringVar(&c.TelegramURL, "telegram-api-url", env("TELEGRAM_API_URL", "https://api.telegram.org"), "Bot API base URL (TELEGRAM_API_URL)")
	fs.StringVar(&c.WebhookURL, "telegram-webhook-url", env("TELEGRAM_WEBHOOK_URL", ""), "receive Telegram by webhook at this public URL instead of polling (TELEGRAM_WEBHOOK_URL)")
	fs.StringVar(&c.WebhookKey, "telegram-webhook-secret", env("TELEGRAM_WEBHOOK_SECRET", ""), "secret Telegram sends with each webhook call (TELEGRAM_WEBHOOK_SECRET)")
	fs.BoolVar(&c.WhatsApp, "whatsapp", env("SEWA_WHATSAPP", "") == "1", "run the WhatsApp channel (SEWA_WHATSAPP=1)")
	fs.StringVar(&c.Console, "console", env("SEWA_CONSOLE", "auto"), "console channel: 1, 0 or auto = when no other channel runs (SEWA_CONSOLE)")
	fs.StringVar(&coordinators, "coordinators", env("SEWA_COORDINATORS", ""), "coordinators, e.g. tg:123,wa:919812345678,console:asha (SEWA_COORDINATORS)")
	fs.StringVar(&c.HTTP, "http", env("SEWA_HTTP", "127.0.0.1:8080"), "listen address for /sms, /healthz, /metrics (SEWA_HTTP)")
	fs.StringVar(&c.SMSToken, "sms-token", env("SEWA_SMS_TOKEN", ""), "bearer token of POST /sms (SEWA_SMS_TOKEN)")
	fs.StringVar(&c.OrgName, "org-name", env("SEWA_ORG_NAME", ""), "the group's name on donation receipts (SEWA_ORG_NAME)")
	fs.StringVar(&c.OrgAddress, "org-address", env("SEWA_ORG_ADDRESS", ""), "the group's address on receipts (SEWA_ORG_ADDRESS)")
	fs.StringVar(&c.Org80G, "org-80g", env("SEWA_ORG_80G", ""), "registration and 80G details on receipts (SEWA_ORG_80G)")
	fs.StringVar(&tz, "tz", env("SEWA_TZ", "Asia/Kolkata"), "time zone (SEWA_TZ)")
	var quiet string
	fs.StringVar(&quiet, "quiet-hours", env("SEWA_QUIET_HOURS", bot.DefaultQuietFrom+"-"+bot.DefaultQuietTo), "when stale-card reminders wait, e.g. 22:00-07:00, or off (SEWA_QUIET_HOURS)")
	fs.StringVar(&c.DigestAt, "digest-at", env("SEWA_DIGEST_AT", bot.DefaultDigestAt), "time of the coordinators' daily digest, or off (SEWA_DIGEST_AT)")
	fs.StringVar(&c.ReminderSpec, "reminder-schedule", env("SEWA_REMINDER_SCHEDULE", bot.DefaultReminderSpec), "cron schedule of the stale-card check (SEWA_REMINDER_SCHEDULE)")
	fs.StringVar(&c.FlowsFile, "flows", env("SEWA_FLOWS", ""), "flow file replacing the built-in flows (SEWA_FLOWS)")
	fs.StringVar(&c.Lang, "lang", env("SEWA_LANG", "en"), "default language: en or hi (SEWA_LANG)")
	c.LogJSON = env("SEWA_LOG", "") == "json"
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	c.DataDir = dataDir(c.DB, c.DataDir)
	var problems []string
	if c.DB == "" {
		problems = append(problems, "SEWA_DB: needs a file path")
	}
	if !slices.Contains(flows.Languages, c.Lang) {
		problems = append(problems, fmt.Sprintf("SEWA_LANG: %q is not a language Sewa speaks (%s)", c.Lang, strings.Join(flows.Languages, ", ")))
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		problems = append(problems, fmt.Sprintf("SEWA_TZ: unknown time zone %q (e.g. Asia/Kolkata)", tz))
		loc = time.UTC
	}
	c.TZ = loc
	c.QuietFrom, c.QuietTo, _ = strings.Cut(quiet, "-")
	if strings.EqualFold(quiet, "off") {
		c.QuietFrom, c.QuietTo = "00:00", "00:00"
	}
	_, err1 := bot.ParseTimeOfDay(c.QuietFrom)
	if _, err2 := bot.ParseTimeOfDay(c.QuietTo); err1 != nil || err2 != nil {
		problems = append(problems, fmt.Sprintf("SEWA_QUIET_HOURS: %q should look like 22:00-07:00, or off", quiet))
	}
	if _, err := bot.ParseTimeOfDay(c.DigestAt); err != nil && !strings.EqualFold(c.DigestAt, "off") {
		problems = append(problems, fmt.Sprintf("SEWA_DIGEST_AT: %q should be a time like 08:00, or off", c.DigestAt))
	}
	if _, err := cron.ParseStandard(c.ReminderSpec); err != nil {
		problems = append(problems, fmt.Sprintf("SEWA_REMINDER_SCHEDULE: %q is not a cron schedule like */5 * * * *: %v", c.ReminderSpec, err))
	}
	for _, k := range strings.Split(coordinators, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		ch, addr, ok := strings.Cut(k, ":")
		if !ok || addr == "" || !slices.Contains([]string{"tg", "wa", "console"}, ch) {
			problems = append(problems, fmt.Sprintf("SEWA_COORDINATORS: %q should look like tg:123456, wa:919812345678 or console:NAME", k))
			continue
		}
		c.Coordinators = append(c.Coordinators, ch+":"+strings.ToLower(addr))
	}
	if u, err := url.Parse(c.TelegramURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("TELEGRAM_API_URL: %q is not an http(s) URL", c.TelegramURL))
	}
	if c.HTTP != "" && c.HTTP != "off" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			problems = append(problems, fmt.Sprintf("SEWA_HTTP: %q is not host:port (e.g. 127.0.0.1:8080)", c.HTTP))
		}
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || u.Scheme != "https" || u.Host == "" {
			problems = append(problems, fmt.Sprintf("TELEGRAM_WEBHOOK_URL: %q must be an https URL Telegram can reach", c.WebhookURL))
		}
		if c.HTTP == "" || c.HTTP == "off" {
			problems = append(problems, "TELEGRAM_WEBHOOK_URL: needs SEWA_HTTP, the address the webhook is served on")
		}
	}
	if !slices.Contains([]string{"auto", "1", "0"}, c.Console) {
		problems = append(problems, fmt.Sprintf("SEWA_CONSOLE: %q should be 1, 0 or auto", c.Console))
	}
	if c.FlowsFile != "" {
		if _, err := os.Stat(c.FlowsFile); err != nil {
			problems = append(problems, fmt.Sprintf("SEWA_FLOWS: cannot read %s", c.FlowsFile))
		}
	}
	return c, problems, nil
}
