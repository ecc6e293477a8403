package bot

import (
	"slices"
	"testing"
)

func TestCardArg(t *testing.T) {
	tests := []struct{ in, id, rest string }{
		{"R-7 cannot reach", "R-7", "cannot reach"},
		{"r-7", "R-7", ""},
		{"  V-12   caller  logistics ", "V-12", "caller  logistics"},
		{"#D-3", "D-3", ""},
		{"R7", "", "R7"},
		{"R-", "", "R-"},
		{"-7", "", "-7"},
		{"R-7x", "", "R-7x"},
		{"Asha Devi", "", "Asha Devi"},
		{"R1-7", "", "R1-7"},
		{"", "", ""},
	}
	for _, tc := range tests {
		id, rest := cardArg(tc.in)
		if id != tc.id || rest != tc.rest {
			t.Errorf("cardArg(%q) = %q, %q; want %q, %q", tc.in, id, rest, tc.id, tc.rest)
		}
	}
}

func TestSplitRoleOps(t *testing.T) {
	tests := []struct {
		in, who string
		ops     []roleOp
		bad     string
	}{
		{"asha", "asha", nil, ""},
		{"Asha Devi +caller -logistics", "Asha Devi", []roleOp{{true, RoleCaller, "+caller"}, {false, RoleLogistics, "-logistics"}}, ""},
		{"ravi caller", "ravi", []roleOp{{true, RoleCaller, "caller"}}, ""},
		{"ravi delivery", "ravi", []roleOp{{true, RoleLogistics, "delivery"}}, ""},
		{"tg:123 -coordinator", "tg:123", []roleOp{{false, RoleCoordinator, "-coordinator"}}, ""},
		{"V-3 +outreach", "V-3", []roleOp{{true, RoleOutreach, "+outreach"}}, ""},
		{"ravi +cook", "", nil, "+cook"},
		{"+caller", "", []roleOp{{true, RoleCaller, "+caller"}}, ""},
		{"", "", nil, ""},
	}
	for _, tc := range tests {
		who, ops, bad := splitRoleOps(tc.in)
		if who != tc.who || !slices.Equal(ops, tc.ops) || bad != tc.bad {
			t.Errorf("splitRoleOps(%q) = %q, %v, %q; want %q, %v, %q", tc.in, who, ops, bad, tc.who, tc.ops, tc.bad)
		}
	}
}
