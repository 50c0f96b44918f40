package names

import (
	"slices"
	"testing"
)

func TestParseUIDList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint32
	}{
		{"", []uint32{}},
		{"7", []uint32{7}},
		{"1,2,30,4294967295", []uint32{1, 2, 30, 4294967295}},
		{"9,3,5", []uint32{3, 5, 9}}, // sorted whatever the aggregate did
		{"1,,2,", []uint32{1, 2}},
	} {
		got, err := ParseUIDList(c.in, 0)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseUIDList(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := ParseUIDList("1,x", 0); err == nil {
		t.Error("a bad list passed")
	}
}
