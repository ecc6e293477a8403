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

	"sewa/flows"
)

// config is everything the environment and flags say; flags override.
type config struct {
	DB           string
	TelegramTok  string
	TelegramURL  string
	WhatsApp     bool
	Console      string // "auto", "1", "0"
	Coordinators []string
	HTTP         string
	SMSToken     string
	TZ           *time.Location
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
	fs.StringVar(&c.DB, "db", env("SEWA_DB", "sewa.db"), "database file (SEWA_DB)")
	fs.StringVar(&c.TelegramTok, "telegram-token", env("TELEGRAM_TOKEN", ""), "Telegram bot token (TELEGRAM_TOKEN)")
	fs.StringVar(&c.TelegramURL, "telegram-api-url", env("TELEGRAM_API_URL", "https://api.telegram.org"), "Bot API base URL (TELEGRAM_API_URL)")
	fs.BoolVar(&c.WhatsApp, "whatsapp", env("SEWA_WHATSAPP", "") == "1", "run the WhatsApp channel (SEWA_WHATSAPP=1)")
	fs.StringVar(&c.Console, "console", env("SEWA_CONSOLE", "auto"), "console channel: 1, 0 or auto = when no other channel runs (SEWA_CONSOLE)")
	fs.StringVar(&coordinators, "coordinators", env("SEWA_COORDINATORS", ""), "coordinators, e.g. tg:123,wa:919812345678,console:asha (SEWA_COORDINATORS)")
	fs.StringVar(&c.HTTP, "http", env("SEWA_HTTP", ""), "listen address for /sms, /healthz, /metrics (SEWA_HTTP)")
	fs.StringVar(&c.SMSToken, "sms-token", env("SEWA_SMS_TOKEN", ""), "bearer token of POST /sms (SEWA_SMS_TOKEN)")
	fs.StringVar(&tz, "tz", env("SEWA_TZ", "Asia/Kolkata"), "time zone (SEWA_TZ)")
	fs.StringVar(&c.FlowsFile, "flows", env("SEWA_FLOWS", ""), "flow file replacing the built-in flows (SEWA_FLOWS)")
	fs.StringVar(&c.Lang, "lang", env("SEWA_LANG", "en"), "default language: en or hi (SEWA_LANG)")
	c.LogJSON = env("SEWA_LOG", "") == "json"
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
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
