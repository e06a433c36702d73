package butler

// RunLogForTest is a run's log and the Output of the Reporter that writes
// to it, for the external tests.
type RunLogForTest struct{ r *reporter }

// NewRunLogForTest returns an empty run log.
func NewRunLogForTest() RunLogForTest {
	return RunLogForTest{&reporter{lr: &localRun{log: &runLog{}}}}
}

// Log writes text as the run's log handler does.
func (l RunLogForTest) Log(text string) { _, _ = l.r.lr.log.Write([]byte(text)) }

// Output is the Reporter's Output.
func (l RunLogForTest) Output(text string) { l.r.Output(text) }

// String returns the log as it is shown.
func (l RunLogForTest) String() string { return l.r.lr.log.String() }
