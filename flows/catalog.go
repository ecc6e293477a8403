package flows

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Languages Sewa speaks. Every catalog entry has each of them.
var Languages = []string{"en", "hi"}

// Catalog is every user-facing sentence of the runtime, by key.
type Catalog map[string]Text

// Msg is a catalog key with arguments, rendered later in the reader's language.
type Msg struct {
	Key  string
	Args []any // pairs: name, value
}

func loadCatalog() (Catalog, error) {
	b, err := embedded.ReadFile("messages.yaml")
	if err != nil {
		return nil, err
	}
	var c Catalog
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("messages.yaml: %w", err)
	}
	return c, nil
}

// Text returns the entry for key; a missing key shows itself rather than
// vanishing, so a gap is noticed in tests.
func (c Catalog) Text(key string) Text {
	if t, ok := c[key]; ok {
		return t
	}
	return Text{"en": "[" + key + "]"}
}

// Get renders key in lang, replacing {name} with the matching argument.
func (c Catalog) Get(lang, key string, args ...any) string {
	return Fill(c.Text(key).In(lang), args...)
}

// Render renders a Msg in lang.
func (c Catalog) Render(lang string, m Msg) string { return c.Get(lang, m.Key, m.Args...) }

// Fill replaces {name} in s with the value following name in args.
func Fill(s string, args ...any) string {
	if len(args) < 2 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Missing lists catalog keys that lack a language, for a test to pin.
func (c Catalog) Missing() []string {
	var out []string
	for key, t := range c {
		for _, l := range Languages {
			if strings.TrimSpace(t[l]) == "" {
				out = append(out, key+" ("+l+")")
			}
		}
	}
	sort.Strings(out)
	return out
}

func sortedPairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}
