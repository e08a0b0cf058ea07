package emulator

import (
	"sync"
	"time"
)

// Billing kinds: the device-side operations IoT Hub meters against the daily
// message quota (https://azure.microsoft.com/pricing/details/iot-hub/ and
// https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling).
const (
	// BillD2C is a device-to-cloud message: ceil(size/block) with size = body
	// + system-property values + application-property names and values.
	BillD2C = "d2c"
	// BillReportedPatch is a reported-properties update reaching IoT Hub
	// (one per upstream sync of the merged pending patch): ceil(patch
	// size/block).
	BillReportedPatch = "reportedPatch"
	// BillTwinRead is a twin read served by IoT Hub (not one served from
	// edgeHub's store while offline): ceil(twin size/block).
	BillTwinRead = "twinRead"
	// BillDesiredNotification is IoT Hub's notification of a desired change
	// to edgeHub, for a module subscribed to them: ceil(patch size/block).
	BillDesiredNotification = "desiredNotification"
	// BillMethod is a direct method: request blocks plus response blocks,
	// each at least 1.
	BillMethod = "method"
	// BillQuery is a page of a twin query (POST /devices/query), billed by
	// its result size: ceil(size/block). It is a service-side operation:
	// it counts in the totals, not under a module.
	BillQuery = "query"
)

// BillingKinds lists the metered kinds in a stable order.
var BillingKinds = []string{BillD2C, BillReportedPatch, BillTwinRead, BillDesiredNotification, BillMethod, BillQuery}

// DefaultBillingBlockSize is the meter of the basic and standard tiers: 4 KB.
// The free tier meters 0.5 KB (512).
const DefaultBillingBlockSize = 4096

// BillingCounts are billed messages (units of the daily quota) and the
// operations that produced them, by kind.
type BillingCounts struct {
	// Total is the sum of ByKind.
	Total int64 `json:"total"`
	// ByKind maps each of BillingKinds to the messages billed.
	ByKind map[string]int64 `json:"byKind"`
	// Operations maps each of BillingKinds to the number of operations
	// (messages sent, patches, reads, notifications, method calls, query
	// pages).
	Operations map[string]int64 `json:"operations"`
	// Bytes maps each of BillingKinds to the metered bytes: the sizes the
	// messages were billed on (for a query, the result pages served).
	Bytes map[string]int64 `json:"bytes"`
}

func newBillingCounts() BillingCounts {
	c := BillingCounts{ByKind: map[string]int64{}, Operations: map[string]int64{}, Bytes: map[string]int64{}}
	for _, k := range BillingKinds {
		c.ByKind[k], c.Operations[k], c.Bytes[k] = 0, 0, 0
	}
	return c
}

func (c *BillingCounts) add(kind string, units, bytes int64) {
	c.Total += units
	c.ByKind[kind] += units
	c.Operations[kind]++
	c.Bytes[kind] += bytes
}

func (c BillingCounts) clone() BillingCounts {
	out := BillingCounts{Total: c.Total, ByKind: map[string]int64{}, Operations: map[string]int64{}, Bytes: map[string]int64{}}
	for k, v := range c.ByKind {
		out.ByKind[k] = v
	}
	for k, v := range c.Operations {
		out.Operations[k] = v
	}
	for k, v := range c.Bytes {
		out.Bytes[k] = v
	}
	return out
}

// Billing is what IoT Hub would count against the daily message quota since
// the emulator started or the meter was last reset, in total and per module.
type Billing struct {
	// BlockSize is the metering block in bytes (4096, or 512 on the free
	// tier).
	BlockSize int `json:"blockSize"`
	// Since is when counting started (start or last reset).
	Since time.Time `json:"since"`
	BillingCounts
	// ByModule holds the same counts per module id, for the operations of
	// the device's modules (queries are the service's: totals only).
	ByModule map[string]BillingCounts `json:"byModule"`
}

// billingMeter accumulates Billing; it has its own lock so that it can be
// called with or without e.mu held.
type billingMeter struct {
	mu       sync.Mutex
	block    int
	since    time.Time
	total    BillingCounts
	byModule map[string]BillingCounts
}

func newBillingMeter(block int, now time.Time) *billingMeter {
	m := &billingMeter{block: block}
	m.reset(now)
	return m
}

func (m *billingMeter) reset(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.since = now.UTC()
	m.total = newBillingCounts()
	m.byModule = map[string]BillingCounts{}
}

// blocks is the number of metering blocks a payload of size bytes takes:
// ceil(size/block), and at least 1 (an empty payload is still one message).
func (m *billingMeter) blocks(size int) int64 {
	if size <= 0 {
		return 1
	}
	return int64((size + m.block - 1) / m.block)
}

// charge bills units of kind, on bytes metered bytes, to moduleID ("" for a
// service-side operation: the totals only).
func (m *billingMeter) charge(moduleID, kind string, units, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total.add(kind, units, bytes)
	if moduleID == "" {
		return
	}
	c, ok := m.byModule[moduleID]
	if !ok {
		c = newBillingCounts()
	}
	c.add(kind, units, bytes)
	m.byModule[moduleID] = c
}

// bill charges one operation of kind whose metered size is size bytes.
func (m *billingMeter) bill(moduleID, kind string, size int) {
	m.charge(moduleID, kind, m.blocks(size), int64(max(size, 0)))
}

// billMethod charges a direct method: the request in blocks plus the
// response in blocks, each at least one. A call that reached no module
// (not connected or not subscribed) is billed the request plus one message
// for the "device not online" answer; a call that timed out is billed the
// request only.
func (m *billingMeter) billMethod(moduleID string, requestSize int, responseSize int, outcome methodOutcome) {
	units, bytes := m.blocks(requestSize), int64(max(requestSize, 0))
	switch outcome {
	case methodAnswered:
		units += m.blocks(responseSize)
		bytes += int64(max(responseSize, 0))
	case methodNotOnline:
		units++
	}
	m.charge(moduleID, BillMethod, units, bytes)
}

type methodOutcome int

const (
	methodAnswered methodOutcome = iota
	methodNotOnline
	methodTimedOut
)

func (m *billingMeter) snapshot() Billing {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := Billing{BlockSize: m.block, Since: m.since, BillingCounts: m.total.clone(), ByModule: map[string]BillingCounts{}}
	for id, c := range m.byModule {
		b.ByModule[id] = c.clone()
	}
	return b
}

// systemPropertyNames are the property-bag names edgeHub treats as system
// properties (SystemProperties.cs, IncomingSystemPropertiesMap); any other
// name, "$."-prefixed or not, is an application property.
var systemPropertyNames = map[string]bool{
	"$.exp": true, "$.cid": true, "$.mid": true, "$.to": true, "$.uid": true, "ack": true, "$.on": true,
	"$.ct": true, "$.ce": true, "$.schema": true, "iothub-operation": true, "$.ctime": true, "$.ifid": true, "$.sub": true,
}

// billedMessageSize is a message's size as IoT Hub meters it: the body, plus
// the values of its system properties, plus the names and values of its
// application properties (protocol framing is not counted).
func billedMessageSize(m Message) int {
	n := len(m.Payload())
	for _, props := range []map[string]string{m.SystemProperties, m.Properties} {
		for k, v := range props {
			n += len(v)
			if !systemPropertyNames[k] {
				n += len(k)
			}
		}
	}
	return n
}

// Billing returns what IoT Hub would have billed since the start or the last
// ResetBilling.
func (e *Emulator) Billing() Billing { return e.meter.snapshot() }

// ResetBilling sets every billing count to zero.
func (e *Emulator) ResetBilling() { e.meter.reset(e.now()) }
