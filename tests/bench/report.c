#include "report.h"

#include <math.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

size_t
bench_cell_count(const struct bench_opts *o)
{
	return o->n_schemes * o->n_threads * MODE_COUNT;
}

size_t
bench_cell_index(const struct bench_opts *o, size_t s, size_t t, int mode)
{
	return (s * o->n_threads + t) * MODE_COUNT + (size_t)mode;
}

/* ---- the machine ----------------------------------------------------------
 */

static void
read_first_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)len, f) != NULL)
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static void
cpu_model(char *out, size_t len)
{
	char line[256], *v;
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, len, "unknown");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) != 0 ||
		    (v = strchr(line, ':')) == NULL)
			continue;
		v += strspn(v + 1, " \t") + 1;
		v[strcspn(v, "\n")] = '\0';
		snprintf(out, len, "%s", v);
		break;
	}
	fclose(f);
}

void
bench_machine_begin(struct bench_machine *m)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	memset(m, 0, sizeof(*m));
	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cpu_model(m->cpu, sizeof(m->cpu));
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%.40s %.100s",
			 u.sysname, u.release);
	m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	read_first_line("/proc/loadavg", m->load_start, sizeof(m->load_start));
}

void
bench_machine_end(struct bench_machine *m)
{
	read_first_line("/proc/loadavg", m->load_end, sizeof(m->load_end));
}

/* ---- medians --------------------------------------------------------------
 */

void
bench_median_cell(const struct bench_opts *o, const struct bench_result *runs,
		  size_t cell, struct bench_result *out)
{
	size_t n = bench_cell_count(o), r, k = 0;
	double rate[100], p50[100], p99[100], cli[100], srv[100];

	*out = runs[cell]; /* the first run: its failure if none is ok */
	out->signatures = 0;
	out->seconds = 0;
	for (r = 0; r < o->repeat && r < 100; r++) {
		const struct bench_result *x = &runs[r * n + cell];

		if (!x->ok)
			continue;
		out->signatures += x->signatures;
		out->seconds += x->seconds;
		rate[k] = x->rate;
		p50[k] = x->p50_us;
		p99[k] = x->p99_us;
		cli[k] = x->client_cpu_us;
		srv[k++] = x->server_cpu_us;
	}
	if (k == 0) {
		*out = runs[cell];
		return;
	}
	out->ok = 1;
	out->rate = bench_median(rate, k);
	out->p50_us = bench_median(p50, k);
	out->p99_us = bench_median(p99, k);
	out->client_cpu_us = bench_median(cli, k);
	out->server_cpu_us = bench_median(srv, k);
}

/* ---- figures derived from the direct cell ----------------------------------
 */

struct derived {
	double ratio;	  /* rate / direct rate */
	double p50_added; /* p50 - direct p50, microseconds */
	double own_cpu;	  /* server CPU - direct CPU, per signature */
};

static void
derive(const struct bench_table *t, size_t s, size_t th, int mode,
       struct derived *d)
{
	const struct bench_opts *o = t->o;
	const struct bench_result *x, *dir;

	d->ratio = d->p50_added = d->own_cpu = NAN;
	x = &t->med[bench_cell_index(o, s, th, mode)];
	dir = &t->med[bench_cell_index(o, s, th, MODE_DIRECT)];
	if (!x->ok || !dir->ok)
		return;
	d->ratio = x->rate / dir->rate;
	d->p50_added = x->p50_us - dir->p50_us;
	if (mode != MODE_DIRECT && x->server_cpu_us >= 0)
		d->own_cpu = x->server_cpu_us - dir->client_cpu_us;
}

/* ---- table -----------------------------------------------------------------
 */

static void
put_num(FILE *f, double v, int width, int prec)
{
	if (isnan(v) || v < -1e17)
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, prec, v);
}

static void
print_row(FILE *f, const struct bench_table *t, size_t s, size_t th, int mode)
{
	const struct bench_result *x =
		&t->med[bench_cell_index(t->o, s, th, mode)];
	struct derived d;

	fprintf(f, "  %3u  %-10s", t->o->threads[th], bench_mode_name(mode));
	if (!x->ok) {
		fprintf(f, "  %s: %s\n", x->na ? "n/a" : "FAILED", x->why);
		return;
	}
	derive(t, s, th, mode, &d);
	put_num(f, x->rate, 9, 0);
	put_num(f, d.ratio, 6, 2);
	put_num(f, x->p50_us, 8, 1);
	put_num(f, x->p99_us, 8, 1);
	put_num(f, mode == MODE_DIRECT ? NAN : d.p50_added, 7, 1);
	put_num(f, x->client_cpu_us, 8, 1);
	put_num(f, x->server_cpu_us < 0 ? NAN : x->server_cpu_us, 8, 1);
	put_num(f, d.own_cpu, 7, 1);
	fputc('\n', f);
}

void
bench_print_table(FILE *f, const struct bench_table *t)
{
	const struct bench_opts *o = t->o;
	size_t s, th;
	int mode;

	fprintf(f,
		"p11agent-bench %s  %s  %ld CPUs (%s)  load %s\n"
		"%s form, %zu-byte message, %s per cell, pipeline depth %u, "
		"%u run(s)%s\n",
		P11A_VERSION, t->m->date, t->m->nproc, t->m->cpu,
		t->m->load_start, o->message_form ? "message" : "digest",
		o->msg_len, o->count ? "count" : "time", o->depth, o->repeat,
		o->repeat > 1 ? ", medians" : "");
	fprintf(f, "ratio = sig/s / direct sig/s; +p50 = p50 - direct p50; "
		   "CPU in us per signature:\n"
		   "cli = this process, srv = the server process tree, "
		   "own = srv - direct's cli\n");
	for (s = 0; s < o->n_schemes; s++) {
		fprintf(f, "\n%s (key %s)\n", o->schemes[s].sc->name,
			o->schemes[s].label);
		fprintf(f,
			"  thr  mode            sig/s  ratio  p50 us  p99 us "
			" +p50us  cli cpu  srv cpu  own us\n");
		for (th = 0; th < o->n_threads; th++) {
			for (mode = 0; mode < MODE_COUNT; mode++) {
				if (o->modes & (1u << mode))
					print_row(f, t, s, th, mode);
			}
		}
	}
	fprintf(f, "\nload at the end: %s\n", t->m->load_end);
}

/* ---- JSON ------------------------------------------------------------------
 */

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
json_num(FILE *f, const char *key, double v, int last)
{
	fprintf(f, "\"%s\": ", key);
	if (isnan(v) || v < 0)
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
	fputs(last ? "" : ", ", f);
}

/* Like json_num, for figures that may be negative (added latency). */
static void
json_signed(FILE *f, const char *key, double v)
{
	fprintf(f, "\"%s\": ", key);
	if (isnan(v))
		fputs("null, ", f);
	else
		fprintf(f, "%.3f, ", v);
}

static void
json_machine(FILE *f, const struct bench_machine *m)
{
	fputs("  \"machine\": {\"date\": ", f);
	json_str(f, m->date);
	fputs(", \"cpu\": ", f);
	json_str(f, m->cpu);
	fputs(", \"kernel\": ", f);
	json_str(f, m->kernel);
	fprintf(f, ", \"nproc\": %ld, \"loadavg_start\": ", m->nproc);
	json_str(f, m->load_start);
	fputs(", \"loadavg_end\": ", f);
	json_str(f, m->load_end);
	fputs("},\n", f);
}

static void
json_config(FILE *f, const struct bench_opts *o)
{
	size_t i;
	int mode, first = 1;

	fprintf(f,
		"  \"config\": {\"seconds\": %g, \"count\": %llu, \"repeat\": "
		"%u, \"depth\": %u, \"form\": \"%s\", \"msg_len\": %zu, "
		"\"agent_workers\": %u, \"threads\": [",
		o->count ? 0 : o->seconds, (unsigned long long)o->count,
		o->repeat, o->depth, o->message_form ? "message" : "digest",
		o->msg_len, o->workers);
	for (i = 0; i < o->n_threads; i++)
		fprintf(f, "%s%u", i ? ", " : "", o->threads[i]);
	fputs("], \"modes\": [", f);
	for (mode = 0; mode < MODE_COUNT; mode++) {
		if (!(o->modes & (1u << mode)))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ", ",
			bench_mode_name(mode));
		first = 0;
	}
	fputs("], \"module\": ", f);
	json_str(f, o->module);
	fputs("},\n", f);
}

static void
json_runs(FILE *f, const struct bench_table *t, size_t cell)
{
	size_t n = bench_cell_count(t->o), r;

	fputs("\"runs\": [", f);
	for (r = 0; r < t->o->repeat; r++) {
		const struct bench_result *x = &t->runs[r * n + cell];

		fputs(r ? ", {" : "{", f);
		if (x->ok) {
			json_num(f, "sig_per_sec", x->rate, 0);
			json_num(f, "p50_us", x->p50_us, 0);
			json_num(f, "p99_us", x->p99_us, 1);
		} else {
			fputs("\"ok\": false", f);
		}
		fputc('}', f);
	}
	fputc(']', f);
}

static void
json_cell(FILE *f, const struct bench_table *t, size_t s, size_t th, int mode)
{
	const struct bench_opts *o = t->o;
	size_t cell = bench_cell_index(o, s, th, mode);
	const struct bench_result *x = &t->med[cell];
	struct derived d;

	derive(t, s, th, mode, &d);
	fputs("    {\"scheme\": ", f);
	json_str(f, o->schemes[s].sc->name);
	fputs(", \"key\": ", f);
	json_str(f, o->schemes[s].label);
	fprintf(f, ", \"threads\": %u, \"mode\": \"%s\", \"ok\": %s, ",
		o->threads[th], bench_mode_name(mode),
		x->ok ? "true" : "false");
	if (!x->ok) {
		fprintf(f, "\"na\": %s, \"why\": ", x->na ? "true" : "false");
		json_str(f, x->why);
		fputs("}", f);
		return;
	}
	fprintf(f, "\"signatures\": %llu, ", (unsigned long long)x->signatures);
	json_num(f, "seconds", x->seconds, 0);
	json_num(f, "sig_per_sec", x->rate, 0);
	json_num(f, "p50_us", x->p50_us, 0);
	json_num(f, "p99_us", x->p99_us, 0);
	json_num(f, "ratio_to_direct", d.ratio, 0);
	json_signed(f, "p50_added_us", mode == MODE_DIRECT ? NAN : d.p50_added);
	json_num(f, "client_cpu_us_per_sig", x->client_cpu_us, 0);
	json_num(f, "server_cpu_us_per_sig", x->server_cpu_us, 0);
	json_signed(f, "server_own_cpu_us_per_sig", d.own_cpu);
	json_runs(f, t, cell);
	fputs("}", f);
}

int
bench_write_json(const char *path, const struct bench_table *t)
{
	const struct bench_opts *o = t->o;
	FILE *f = fopen(path, "w");
	size_t s, th;
	int mode, first = 1;

	if (f == NULL)
		return -1;
	fprintf(f, "{\n  \"tool\": \"p11agent-bench\", \"version\": \"%s\",\n",
		P11A_VERSION);
	json_machine(f, t->m);
	json_config(f, o);
	fputs("  \"cells\": [\n", f);
	for (s = 0; s < o->n_schemes; s++) {
		for (th = 0; th < o->n_threads; th++) {
			for (mode = 0; mode < MODE_COUNT; mode++) {
				if (!(o->modes & (1u << mode)))
					continue;
				fputs(first ? "" : ",\n", f);
				json_cell(f, t, s, th, mode);
				first = 0;
			}
		}
	}
	fputs("\n  ]\n}\n", f);
	return fclose(f) == 0 ? 0 : -1;
}
