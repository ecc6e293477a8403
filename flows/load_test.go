package flows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sewa/flows"
)

func TestDefaultFlowsLoad(t *testing.T) {
	set := mustDefault(t)
	for _, id := range []string{"request", "donation", "volunteer", "outreach"} {
		if set.Flow(id) == nil {
			t.Errorf("flow %s missing", id)
		}
	}
	if f := set.FlowOfCard("R-42"); f == nil || f.ID != "request" {
		t.Errorf("FlowOfCard(R-42) = %v", f)
	}
}

// TestBrokenFlows pins the message for each broken file: the first line of
// each says "# want: MESSAGE", and Load must report exactly that problem.
func TestBrokenFlows(t *testing.T) {
	paths, _ := filepath.Glob("testdata/broken/*.yaml")
	if len(paths) < 5 {
		t.Fatalf("only %d broken flow files", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want := strings.TrimPrefix(first, "# want: ")
			_, err = flows.Load(data, actions)
			if err == nil {
				t.Fatal("loaded without a problem")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("problems:\n%v\nwant one to be:\n%s", err, want)
			}
		})
	}
}

func TestCatalogHasEveryLanguage(t *testing.T) {
	set := mustDefault(t)
	if missing := set.Catalog.Missing(); len(missing) > 0 {
		t.Errorf("catalog entries without a translation: %v", missing)
	}
}

// Every text in the default flows is in every language, so a Hindi speaker
// never meets English mid-conversation.
func TestFlowsHaveEveryLanguage(t *testing.T) {
	set := mustDefault(t)
	check := func(where string, txt flows.Text) {
		if len(txt) == 0 {
			return
		}
		for _, l := range flows.Languages {
			if strings.TrimSpace(txt[l]) == "" {
				t.Errorf("%s: no %s text", where, l)
			}
		}
	}
	for _, f := range set.Flows {
		check(f.ID+" title", f.Title)
		if f.Intake != nil {
			check(f.ID+" intake done", f.Intake.Done)
			check(f.ID+" intake menu", f.Intake.Menu)
			for _, q := range f.Intake.Questions {
				check(f.ID+" intake "+q.ID, q.Ask)
			}
		}
		for _, st := range f.Stages {
			check(f.ID+"/"+st.ID+" title", st.Title)
			check(f.ID+"/"+st.ID+" guide", st.Guide)
			check(f.ID+"/"+st.ID+" status", st.Status)
			for _, q := range st.Questions {
				check(f.ID+"/"+st.ID+"/"+q.ID, q.Ask)
				for _, o := range q.Choices {
					check(f.ID+"/"+st.ID+"/"+q.ID+"/"+o.ID, o.Label)
				}
			}
			for _, r := range st.Routes {
				check(f.ID+"/"+st.ID+" route to "+r.To, r.Tell)
			}
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(flows.DefaultYAML())
	paths, _ := filepath.Glob("testdata/broken/*.yaml")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := flows.Load(data, actions)
		if err == nil && set == nil {
			t.Fatal("no set and no error")
		}
	})
}
