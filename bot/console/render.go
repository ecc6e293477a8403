package console

import (
	"fmt"
	"strings"

	"sewa/bot"
)

// Render writes a message as the console shows it: who it is for, the text
// indented under it, and choices as a numbered list.
func Render(m bot.Outgoing) string {
	var b strings.Builder
	fmt.Fprintf(&b, "→ %s: ", m.To)
	lines := strings.Split(m.Text, "\n")
	b.WriteString(lines[0])
	for _, l := range lines[1:] {
		b.WriteString("\n    " + l)
	}
	b.WriteString("\n")
	for i, c := range m.Choices {
		fmt.Fprintf(&b, "    %d. %s\n", i+1, c.Label)
	}
	if m.AskPhone {
		b.WriteString("    (type the number)\n")
	}
	if m.Image != "" {
		fmt.Fprintf(&b, "    [image: %s]\n", m.Image)
	}
	if m.Document != "" {
		fmt.Fprintf(&b, "    [file: %s]\n", m.Document)
	}
	return b.String()
}
