package pubsub

// Sweep runs the idle-topic sweep now (the broker runs it on a ticker).
func (m *Memory) Sweep() { m.sweep() }
