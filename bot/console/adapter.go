// Package console is the terminal channel: one person at a keyboard plays
// every role, switching who is speaking with /as NAME. It needs no token, so
// anyone can try Sewa with `go run ./cmd/sewa`.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"sewa/bot"
)

// Name is the channel name in contact keys: "console:asha".
const Name = "console"

// DefaultSpeaker is who speaks until /as says otherwise. The first person
// on the console is a coordinator.
const DefaultSpeaker = "organiser"

// Adapter reads lines from in and writes the bot's messages to out.
type Adapter struct {
	in     io.Reader
	out    io.Writer
	runID  string
	prompt bool

	mu      sync.Mutex // out and speaker
	speaker string
	seq     int
}

// Option configures the adapter.
type Option func(*Adapter)

// WithSpeaker sets who speaks first.
func WithSpeaker(name string) Option { return func(a *Adapter) { a.speaker = name } }

// WithRunID makes message ids unique across runs (default: the start time).
func WithRunID(id string) Option { return func(a *Adapter) { a.runID = id } }

// WithPrompt prints "name> " before each line, for a terminal.
func WithPrompt(on bool) Option { return func(a *Adapter) { a.prompt = on } }

// New returns a console channel over in and out.
func New(in io.Reader, out io.Writer, opts ...Option) *Adapter {
	a := &Adapter{in: in, out: out, speaker: DefaultSpeaker, runID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	for _, o := range opts {
		o(a)
	}
	return a
}

func (a *Adapter) Name() string { return Name }

func (a *Adapter) Caps() bot.Caps {
	return bot.Caps{Buttons: false, MaxChoices: 12, MaxText: 0, Photos: true}
}

// flusher is what the console needs beyond Inbox: replies printed before
// the next prompt.
type flusher interface {
	Flush(ctx context.Context, channel string) error
}

// Receive reads lines until end of input (Ctrl-D) or ctx ends.
func (a *Adapter) Receive(ctx context.Context, in bot.Inbox) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(a.in)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	for {
		a.showPrompt()
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case line := <-lines:
			if err := a.HandleLine(ctx, in, line); err != nil {
				return err
			}
		}
	}
}

func (a *Adapter) showPrompt() {
	if !a.prompt {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.out, "%s> ", a.speaker)
}

// HandleLine takes one typed line: a console command (/as, /photo,
// /location) or a message from the current speaker.
func (a *Adapter) HandleLine(ctx context.Context, in bot.Inbox, line string) error {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil
	}
	m, ok := a.message(line)
	if !ok {
		return nil
	}
	if err := in.Accept(ctx, []bot.Message{m}, nil); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if f, ok := in.(flusher); ok {
		return f.Flush(ctx, Name)
	}
	return nil
}

// message turns a line into a Message, handling the console's own commands.
func (a *Adapter) message(line string) (bot.Message, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	word, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(word) {
	case "/as":
		if rest == "" {
			fmt.Fprintf(a.out, "(speaking as %s; /as NAME to switch)\n", a.speaker)
			return bot.Message{}, false
		}
		a.speaker = rest
		fmt.Fprintf(a.out, "(now speaking as %s)\n", rest)
		return bot.Message{}, false
	}
	a.seq++
	m := bot.Message{Channel: Name, ExternalID: a.runID + "-" + strconv.Itoa(a.seq),
		User: strings.ToLower(a.speaker), Name: a.speaker, Text: line, At: time.Now()}
	switch strings.ToLower(word) {
	case "/photo":
		m.Text, m.Photos = "", []string{rest}
	case "/location":
		var lat, lon float64
		if _, err := fmt.Sscanf(strings.ReplaceAll(rest, ",", " "), "%g %g", &lat, &lon); err == nil {
			m.Text, m.Location = "", &bot.Location{Lat: lat, Lon: lon}
		}
	}
	return m, true
}

// Send prints a message for its recipient, choices numbered.
func (a *Adapter) Send(_ context.Context, m bot.Outgoing) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := io.WriteString(a.out, Render(m)); err != nil {
		return "", fmt.Errorf("%w: %v", bot.ErrTransient, err)
	}
	return strconv.FormatInt(m.ID, 10), nil
}
