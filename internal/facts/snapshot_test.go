package facts

import "testing"

// TestEngineInventoryFact: a snapshot saved before engine:inventory existed
// has it in the state of engine; the engine source records it.
func TestEngineInventoryFact(t *testing.T) {
	old := &Snapshot{Sources: []SourceRun{{Name: SourceDocker, Status: StatusError, Reason: "down",
		Facts: factStates(StatusError, "down", FactEngine, FactContainers)}}}
	if st := old.Fact(FactEngineInventory); st.Status != StatusError || st.Reason != "down" {
		t.Errorf("old snapshot: %+v", st)
	}
	hand := &Snapshot{Engine: &Engine{}}
	if st := hand.Fact(FactEngineInventory); st.Status != StatusOK {
		t.Errorf("snapshot built by hand: %+v", st)
	}
}
