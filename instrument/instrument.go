package instrument

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Defaults applied by New when a Config field is zero.
const (
	DefaultSlowQueryThreshold = 200 * time.Millisecond
	DefaultQuerySummaryLimit  = 20
	// MaxCaches bounds the distinct cache_name values; further names share "other".
	MaxCaches = 32
	// MaxRoutes bounds the distinct http_route values; further patterns share "other".
	MaxRoutes = 512
	// maxRedisOperations bounds the distinct Redis command names.
	maxRedisOperations = 64
)

// Label values used when a bound is reached or nothing matched.
const (
	otherValue     = "other"
	unmatchedRoute = "unmatched"
)

// scopeName is the instrumentation scope of every instrument; it is not
// exposed as a label (the exporter runs WithoutScopeInfo).
const scopeName = "github.com/loadlens/loadlens/instrument"

// Histogram bucket boundaries. The HTTP buckets contain the SLO thresholds
// 0.1 s, 0.3 s and 1 s so that recording rules can read them exactly.
var (
	httpDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10}
	dbDurationBuckets   = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10}
	waitTimeBuckets     = []float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	queriesBuckets      = []float64{0, 1, 2, 3, 5, 10, 20, 50, 100}
)

// Config configures New. The zero value is usable.
type Config struct {
	// ServiceName is the OpenTelemetry service.name resource attribute
	// (visible on exported traces; metrics carry no resource labels).
	ServiceName string
	// Logger receives the slow query log lines and export errors; nil discards.
	Logger *slog.Logger
	// SlowQueryThreshold is the duration from which a database call is logged
	// at Warn as "slow query" (summary, duration, route; never parameters).
	// 0 means DefaultSlowQueryThreshold; a negative value turns the log off.
	SlowQueryThreshold time.Duration
	// QuerySummaryLimit bounds the distinct db_query_summary values per
	// database system; later summaries are recorded as "other".
	// 0 means DefaultQuerySummaryLimit.
	QuerySummaryLimit int
	// OTLPEndpoint turns trace export on: a URL such as
	// http://collector:4318 (OTLP/HTTP, path /v1/traces by default) or a
	// bare host:port, which is taken as plain HTTP. "" (the default) exports
	// no traces and creates no spans.
	OTLPEndpoint string
	// Registerer is where the OpenTelemetry Prometheus exporter registers its
	// collector; nil creates a new registry (used as Gatherer too).
	Registerer prometheus.Registerer
	// Gatherer is what MetricsHandler serves. nil uses Registerer when it is
	// also a Gatherer (a *prometheus.Registry).
	Gatherer prometheus.Gatherer
	// DisableQueryAccounting skips the per-request query counter and so the
	// app_db_queries_per_request histogram and the route in slow query logs.
	// With accounting on, the middleware allocates one object per request
	// unless the server sets ConnContext (see Instrumentation.ConnContext).
	DisableQueryAccounting bool
}

// Instrumentation holds the instruments, caches and exporters built by New.
// All its methods are safe for concurrent use.
type Instrumentation struct {
	logger        *slog.Logger
	slowThreshold time.Duration
	summaryLimit  int
	accounting    bool

	gatherer      prometheus.Gatherer
	registerer    prometheus.Registerer
	promCollector prometheus.Collector
	meterProvider *sdkmetric.MeterProvider
	traceProvider *sdktrace.TracerProvider
	tracer        trace.Tracer // nil when tracing is off
	propagator    propagation.TextMapPropagator

	httpDuration   metric.Float64Histogram
	httpActive     metric.Int64ObservableUpDownCounter
	active         [numMethods]atomic.Int64 // requests in progress by method
	activeSeen     [numMethods]atomic.Bool  // methods that have a series
	activeOpts     [numMethods]metric.ObserveOption
	dbDuration     metric.Float64Histogram
	waitTime       metric.Float64Histogram
	queriesPerReq  metric.Int64Histogram
	cacheRequests  metric.Int64ObservableCounter
	connCount      metric.Int64ObservableUpDownCounter
	connMax        metric.Int64ObservableUpDownCounter
	connPending    metric.Int64ObservableUpDownCounter
	connTimeouts   metric.Int64ObservableCounter
	callback       metric.Registration
	routes         routeCache
	pgOps          *opCache
	redisOps       *opCache
	sqlCache       sqlCache
	prepared       preparedNames
	caches         cacheSet
	pgPools        sync.Map // *pgxpool.Pool -> *pgPoolState
	defaultPgState *pgPoolState

	poolsMu   sync.Mutex
	poolNames map[string]bool
	observers []func(metric.Observer)
}

// New builds the meter provider, the Prometheus exporter (registered on
// cfg.Registerer) and, when cfg.OTLPEndpoint is set, the trace exporter.
func New(cfg Config) (*Instrumentation, error) {
	i := &Instrumentation{
		logger:        cfg.Logger,
		slowThreshold: cfg.SlowQueryThreshold,
		summaryLimit:  cfg.QuerySummaryLimit,
		accounting:    !cfg.DisableQueryAccounting,
		registerer:    cfg.Registerer,
		gatherer:      cfg.Gatherer,
		poolNames:     map[string]bool{},
	}
	if i.logger == nil {
		i.logger = slog.New(slog.DiscardHandler)
	}
	if i.slowThreshold == 0 {
		i.slowThreshold = DefaultSlowQueryThreshold
	}
	if i.summaryLimit < 0 {
		return nil, fmt.Errorf("instrument: QuerySummaryLimit %d is negative; use 0 for the default %d", i.summaryLimit, DefaultQuerySummaryLimit)
	}
	if i.summaryLimit == 0 {
		i.summaryLimit = DefaultQuerySummaryLimit
	}
	switch {
	case i.registerer == nil && i.gatherer == nil:
		reg := prometheus.NewRegistry()
		i.registerer, i.gatherer = reg, reg
	case i.registerer == nil:
		return nil, errors.New("instrument: Config.Gatherer is set without Config.Registerer; set both or neither")
	case i.gatherer == nil:
		g, ok := i.registerer.(prometheus.Gatherer)
		if !ok {
			return nil, errors.New("instrument: Config.Registerer is not a Gatherer; set Config.Gatherer too")
		}
		i.gatherer = g
	}

	serviceName := cfg.ServiceName
	if serviceName == "" {
		serviceName = "unknown_service"
	}
	res := resource.NewSchemaless(attribute.String("service.name", serviceName))

	filter := exemplar.AlwaysOffFilter
	if cfg.OTLPEndpoint != "" {
		tp, err := newTraceProvider(cfg.OTLPEndpoint, res)
		if err != nil {
			return nil, err
		}
		i.traceProvider = tp
		i.tracer = tp.Tracer(scopeName)
		i.propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		filter = exemplar.TraceBasedFilter
	}

	exp, err := otelprom.New(
		otelprom.WithRegisterer(i.registerer),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		i.shutdownTraces(context.Background())
		return nil, fmt.Errorf("instrument: create Prometheus exporter: %w", err)
	}
	i.meterProvider = sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithResource(res),
		sdkmetric.WithExemplarFilter(filter),
		// Exemplars (trace IDs) only on the HTTP latency histogram.
		sdkmetric.WithView(noExemplarsExcept("http.server.request.duration")),
	)
	if err := i.createInstruments(); err != nil {
		_ = i.Shutdown(context.Background())
		return nil, err
	}
	i.pgOps = newOpCache(i, "postgresql", i.summaryLimit)
	i.redisOps = newOpCache(i, "redis", i.summaryLimit)
	i.defaultPgState = i.newPgPoolState("postgres")
	i.caches.init()
	for m := range numMethods {
		i.activeOpts[m] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("http.request.method", methodNames[m])))
	}
	i.routes.init(i)
	return i, nil
}

func (i *Instrumentation) createInstruments() error {
	m := i.meterProvider.Meter(scopeName)
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	i.httpDuration, err = m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(httpDurationBuckets...))
	add(err)
	// Observed at collection from atomic counters: an Add per request start
	// and end through the SDK would cost more than the rest of the middleware.
	i.httpActive, err = m.Int64ObservableUpDownCounter("http.server.active_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Number of active HTTP server requests."))
	add(err)
	i.dbDuration, err = m.Float64Histogram("db.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of database client operations."),
		metric.WithExplicitBucketBoundaries(dbDurationBuckets...))
	add(err)
	i.waitTime, err = m.Float64Histogram("db.client.connection.wait_time", metric.WithUnit("s"),
		metric.WithDescription("The time it took to obtain an open connection from the pool."),
		metric.WithExplicitBucketBoundaries(waitTimeBuckets...))
	add(err)
	i.queriesPerReq, err = m.Int64Histogram("app.db.queries_per_request", metric.WithUnit("{query}"),
		metric.WithDescription("Database calls (PostgreSQL and Redis round trips) issued per HTTP request."),
		metric.WithExplicitBucketBoundaries(queriesBuckets...))
	add(err)
	i.cacheRequests, err = m.Int64ObservableCounter("app.cache.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Application cache lookups by cache and result."))
	add(err)
	i.connCount, err = m.Int64ObservableUpDownCounter("db.client.connection.count", metric.WithUnit("{connection}"),
		metric.WithDescription("The number of connections that are currently in the state described by the state attribute."))
	add(err)
	i.connMax, err = m.Int64ObservableUpDownCounter("db.client.connection.max", metric.WithUnit("{connection}"),
		metric.WithDescription("The maximum number of open connections allowed."))
	add(err)
	i.connPending, err = m.Int64ObservableUpDownCounter("db.client.connection.pending_requests", metric.WithUnit("{request}"),
		metric.WithDescription("The number of current pending requests for an open connection."))
	add(err)
	i.connTimeouts, err = m.Int64ObservableCounter("db.client.connection.timeouts", metric.WithUnit("{timeout}"),
		metric.WithDescription("The number of connection acquisitions that timed out."))
	add(err)
	if len(errs) > 0 {
		return fmt.Errorf("instrument: create instruments: %w", errors.Join(errs...))
	}
	i.callback, err = m.RegisterCallback(i.observe, i.httpActive, i.cacheRequests, i.connCount, i.connMax, i.connPending, i.connTimeouts)
	if err != nil {
		return fmt.Errorf("instrument: register callback: %w", err)
	}
	return nil
}

// observe is the one callback behind the active-requests gauge, the cache
// counters and every pool gauge. A method has an active-requests series from
// its first request on, as with a synchronous counter.
func (i *Instrumentation) observe(_ context.Context, o metric.Observer) error {
	for m := range numMethods {
		if i.activeSeen[m].Load() {
			o.ObserveInt64(i.httpActive, i.active[m].Load(), i.activeOpts[m])
		}
	}
	i.caches.observe(o, i.cacheRequests)
	i.poolsMu.Lock()
	obs := i.observers
	i.poolsMu.Unlock()
	for _, f := range obs {
		f(o)
	}
	return nil
}

// addPoolObserver reserves a pool name and adds its observer.
func (i *Instrumentation) addPoolObserver(name string, f func(metric.Observer)) error {
	if name == "" {
		return errors.New("instrument: pool name is empty")
	}
	i.poolsMu.Lock()
	defer i.poolsMu.Unlock()
	if i.poolNames[name] {
		return fmt.Errorf("instrument: pool %q is already observed; give each pool its own name", name)
	}
	i.poolNames[name] = true
	i.observers = append(i.observers[:len(i.observers):len(i.observers)], f)
	return nil
}

// poolAttrs are the precomputed attribute options of one pool.
type poolAttrs struct {
	pool     metric.ObserveOption
	used     metric.ObserveOption
	idle     metric.ObserveOption
	poolRecs []metric.RecordOption
}

func newPoolAttrs(name string) poolAttrs {
	p := attribute.String("db.client.connection.pool.name", name)
	set := attribute.NewSet(p)
	return poolAttrs{
		pool:     metric.WithAttributeSet(set),
		used:     metric.WithAttributeSet(attribute.NewSet(p, attribute.String("db.client.connection.state", "used"))),
		idle:     metric.WithAttributeSet(attribute.NewSet(p, attribute.String("db.client.connection.state", "idle"))),
		poolRecs: []metric.RecordOption{metric.WithAttributeSet(set)},
	}
}

// MetricsHandler serves the registry the exporter registered on (mount it
// on /metrics). OpenMetrics, which carries exemplars, is negotiated only
// when tracing is on.
func (i *Instrumentation) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(i.gatherer, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(i.logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: i.tracer != nil,
	})
}

// Shutdown flushes and stops the trace exporter and the meter provider, and
// unregisters the pool callback. The Prometheus collector stays registered
// on Registerer but reports nothing after Shutdown.
func (i *Instrumentation) Shutdown(ctx context.Context) error {
	var errs []error
	if i.callback != nil {
		if err := i.callback.Unregister(); err != nil {
			errs = append(errs, fmt.Errorf("unregister callback: %w", err))
		}
	}
	if err := i.shutdownTraces(ctx); err != nil {
		errs = append(errs, err)
	}
	if i.meterProvider != nil {
		if err := i.meterProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down meter provider: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("instrument: %w", errors.Join(errs...))
	}
	return nil
}

func (i *Instrumentation) shutdownTraces(ctx context.Context) error {
	if i.traceProvider == nil {
		return nil
	}
	if err := i.traceProvider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down trace provider: %w", err)
	}
	return nil
}

// TracerProvider returns the provider spans are exported through, or nil
// when Config.OTLPEndpoint was empty. Services may use it for their own spans.
func (i *Instrumentation) TracerProvider() trace.TracerProvider {
	if i.traceProvider == nil {
		return nil
	}
	return i.traceProvider
}

func newTraceProvider(endpoint string, res *resource.Resource) (*sdktrace.TracerProvider, error) {
	var opts []otlptracehttp.Option
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("instrument: OTLPEndpoint %s is not a URL such as http://collector:4318", redactEndpoint(endpoint))
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	}
	// otlptracehttp.New does not connect; export errors surface later.
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("instrument: create OTLP trace exporter for %s: %w", redactEndpoint(endpoint), err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// redactEndpoint drops any user information from an endpoint URL.
func redactEndpoint(endpoint string) string {
	scheme, rest, ok := strings.Cut(endpoint, "://")
	if !ok {
		return endpoint
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if slash := strings.Index(rest, "/"); slash < 0 || at < slash {
			rest = "REDACTED@" + rest[at+1:]
		}
	}
	return scheme + "://" + rest
}

// noExemplarsExcept is a view that keeps the default exemplar reservoir for
// the named instrument and drops exemplars everywhere else.
func noExemplarsExcept(name string) sdkmetric.View {
	return func(inst sdkmetric.Instrument) (sdkmetric.Stream, bool) {
		if inst.Name == name {
			return sdkmetric.Stream{}, false
		}
		return sdkmetric.Stream{
			Name: inst.Name, Description: inst.Description, Unit: inst.Unit,
			ExemplarReservoirProviderSelector: func(sdkmetric.Aggregation) exemplar.ReservoirProvider {
				return dropReservoirProvider
			},
		}, true
	}
}

func dropReservoirProvider(attribute.Set) exemplar.Reservoir { return dropReservoir{} }

type dropReservoir struct{}

func (dropReservoir) Offer(context.Context, time.Time, exemplar.Value, []attribute.KeyValue) {}
func (dropReservoir) Collect(*[]exemplar.Exemplar)                                           {}
