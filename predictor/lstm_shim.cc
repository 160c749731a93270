// lstm_shim.cc - the libtorch LSTM behind the C interface of lstm_shim.h (the only C++ in augur).
#include "predictor/lstm_shim.h"

#include <torch/torch.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

// Built with -fvisibility=hidden so the torch templates instantiated here stay private; only the
// C interface is exported.
#define SHIM_EXPORT __attribute__((visibility("default")))

namespace {

// ---- errors --------------------------------------------------------------------------------

void set_err(char *err, size_t errlen, const std::string &msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg.c_str());
}

// c10::Error::what() carries a C++ backtrace: useless in a log line.
std::string describe(const std::exception &e)
{
    if (auto *ce = dynamic_cast<const c10::Error *>(&e)) return ce->what_without_backtrace();
    return e.what();
}

// Runs f, turning any exception into fail and a sentence in err: none may reach C callers.
template <class R, class F> R guarded(char *err, size_t errlen, const char *what, R fail, F &&f)
{
    try {
        return f();
    } catch (const std::exception &e) {
        set_err(err, errlen, std::string(what) + ": " + describe(e));
    } catch (...) {
        set_err(err, errlen, std::string(what) + ": unknown C++ exception");
    }
    return fail;
}

// ---- the model -----------------------------------------------------------------------------

struct TrainNetImpl : torch::nn::Module {
    torch::nn::Embedding emb{nullptr};
    torch::nn::LSTM lstm{nullptr};
    torch::nn::Linear out{nullptr};

    explicit TrainNetImpl(const lstm_shape_t &s)
    {
        emb = register_module("emb", torch::nn::Embedding(s.buckets, s.embed));
        lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(s.embed, s.hidden)));
        out = register_module("out", torch::nn::Linear(s.hidden, s.buckets));
    }

    // x: [T, B] bucket indices -> [T, B, buckets] logits, from a zero state.
    torch::Tensor forward(const torch::Tensor &x)
    {
        return out(std::get<0>(lstm(emb(x))));
    }
};

// The inference copy is plain tensors rather than a module: publishing is then a memory copy
// (constructing a module would re-initialise its weights from the global generator), and a
// step is one aten::lstm_cell on the weights nn::LSTM trained (same layout and gate order).
struct Weights {
    torch::Tensor emb, w_ih, w_hh, b_ih, b_hh, out_w, out_b;
};

// Fixed names in the file so the layout does not depend on libtorch's module naming.
const char *const kParamNames[] = {"emb", "w_ih", "w_hh", "b_ih", "b_hh", "out_w", "out_b"};
constexpr size_t kParams = sizeof(kParamNames) / sizeof(kParamNames[0]);

// The training module's parameters in kParamNames order.
std::vector<torch::Tensor> train_params(TrainNetImpl &m)
{
    auto lp = m.lstm->named_parameters();
    return {m.emb->weight,       lp["weight_ih_l0"], lp["weight_hh_l0"], lp["bias_ih_l0"],
            lp["bias_hh_l0"],    m.out->weight,      m.out->bias};
}

std::vector<std::vector<int64_t>> param_sizes(const lstm_shape_t &s)
{
    int64_t b = s.buckets, e = s.embed, h = s.hidden;
    return {{b, e}, {4 * h, e}, {4 * h, h}, {4 * h}, {4 * h}, {b, h}, {b}};
}

std::shared_ptr<const Weights> snapshot(TrainNetImpl &m)
{
    torch::NoGradGuard ng;
    auto p = train_params(m);
    auto w = std::make_shared<Weights>();
    w->emb = p[0].detach().clone();
    w->w_ih = p[1].detach().clone();
    w->w_hh = p[2].detach().clone();
    w->b_ih = p[3].detach().clone();
    w->b_hh = p[4].detach().clone();
    w->out_w = p[5].detach().clone();
    w->out_b = p[6].detach().clone();
    return w;
}

// splitmix64: the window sampler's own generator, so training batches depend only on the seed
// and the calls made, not on anything else drawing from torch's global generator.
uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Weight init draws from torch's process-wide generator: seeding and constructing under one
// lock makes "same seed, same model" hold even when nets are created on several threads.
std::mutex g_init_mu;

// ---- the model file ------------------------------------------------------------------------
//
// A 64-byte header (little-endian) then a torch archive of the parameters. The header carries
// the shape, so an incompatible file is refused before torch parses anything, and checksums,
// because torch's archive reader does not notice a flipped bit in a weight.

constexpr char kMagic[8] = {'A', 'U', 'G', 'L', 'S', 'T', 'M', '\n'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderLen = 64;

uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

// Header layout: magic[8] version header_len buckets embed hidden seq_len batch reserved
// payload_len(64) payload_fnv(64) header_fnv(64, over bytes 0..55).
void encode_header(unsigned char *h, const lstm_shape_t &s, uint64_t payload_len,
                   uint64_t payload_fnv)
{
    memset(h, 0, kHeaderLen);
    memcpy(h, kMagic, 8);
    put32(h + 8, kVersion);
    put32(h + 12, (uint32_t)kHeaderLen);
    put32(h + 16, s.buckets);
    put32(h + 20, s.embed);
    put32(h + 24, s.hidden);
    put32(h + 28, s.seq_len);
    put32(h + 32, s.batch);
    put64(h + 40, payload_len);
    put64(h + 48, payload_fnv);
    put64(h + 56, fnv1a(h, 56));
}

bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = static_cast<const char *>(buf);
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

std::string errno_msg(const char *what, const std::string &path)
{
    return std::string(what) + " " + path + ": " + strerror(errno);
}

} // namespace

// ---- the net -------------------------------------------------------------------------------

struct lstm_net {
    lstm_shape_t shape;

    // Training thread.
    std::shared_ptr<TrainNetImpl> train;
    std::unique_ptr<torch::optim::Adam> opt;
    uint64_t rng;

    // Hand-over from publish (training thread) to the inference thread.
    std::mutex mu;
    std::shared_ptr<const Weights> pending;
    std::atomic<bool> has_pending{false};

    // Inference thread.
    std::shared_ptr<const Weights> cur;
    torch::Tensor h, c; // [1, hidden]
    // Every bucket's logit in the current state and their logsumexp, computed by the first
    // score after a change of state or weights; scratch is for the exponentials.
    torch::Tensor logits, scratch;
    bool have_logits = false;
    float norm = 0;
};

namespace {

std::unique_ptr<torch::optim::Adam> new_optimizer(lstm_net &n)
{
    return std::make_unique<torch::optim::Adam>(n.train->parameters(),
                                                torch::optim::AdamOptions(n.shape.lr));
}

bool check_buckets(const lstm_net *n, const uint32_t *b, size_t count, const char *what,
                   char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++)
        if (b[i] >= n->shape.buckets) {
            set_err(err, errlen,
                    std::string(what) + " " + std::to_string(b[i]) + " out of range (buckets " +
                        std::to_string(n->shape.buckets) + ")");
            return false;
        }
    return true;
}

void hand_over(lstm_net *n, std::shared_ptr<const Weights> w)
{
    {
        std::lock_guard<std::mutex> g(n->mu);
        n->pending.swap(w);
        n->has_pending.store(true, std::memory_order_release);
    }
    // w now holds any unconsumed earlier snapshot: freed here, outside the lock.
}

// Inference thread: switch to published weights if there are any. The old copy is freed
// outside the lock so publish never waits on a free of megabytes.
void pick_up(lstm_net *n)
{
    if (!n->has_pending.load(std::memory_order_acquire)) return;
    std::shared_ptr<const Weights> w;
    {
        std::lock_guard<std::mutex> g(n->mu);
        w.swap(n->pending);
        n->has_pending.store(false, std::memory_order_relaxed);
    }
    if (w) {
        n->cur.swap(w);
        n->have_logits = false;
    }
}

void zero_state(lstm_net *n)
{
    if (!n->logits.defined()) {
        n->logits = torch::empty({(int64_t)n->shape.buckets});
        n->scratch = torch::empty({(int64_t)n->shape.buckets});
    }
    n->h = torch::zeros({1, (int64_t)n->shape.hidden});
    n->c = torch::zeros({1, (int64_t)n->shape.hidden});
    n->have_logits = false;
}

const char *shape_problem(const lstm_shape_t &s)
{
    if (s.buckets < 2 || s.buckets > (1u << 24)) return "buckets must be 2..16777216";
    if (s.embed < 1 || s.embed > 4096) return "embed must be 1..4096";
    if (s.hidden < 1 || s.hidden > 4096) return "hidden must be 1..4096";
    if (s.seq_len < 1 || s.seq_len > 4096) return "seq_len must be 1..4096";
    if (s.batch < 1 || s.batch > 65536) return "batch must be 1..65536";
    if (!(s.lr > 0) || !std::isfinite(s.lr)) return "lr must be a positive number";
    // The output layer of one training step is seq_len*batch*buckets floats.
    if ((uint64_t)s.buckets * (s.embed + s.hidden) > (1ull << 30) ||
        (uint64_t)s.seq_len * s.batch * s.buckets > (1ull << 31))
        return "shape too large";
    return nullptr;
}

std::string shape_str(uint32_t b, uint32_t e, uint32_t h)
{
    return std::to_string(b) + "x" + std::to_string(e) + "x" + std::to_string(h);
}

// Twice the weights plus room for the archive's own records: far more than any valid file of
// this shape, so a huge stray file is refused before it is read.
uint64_t max_file_size(const lstm_shape_t &s)
{
    uint64_t floats = 0;
    for (auto &sz : param_sizes(s)) {
        uint64_t k = 1;
        for (auto d : sz) k *= (uint64_t)d;
        floats += k;
    }
    return 8 * floats + (1u << 20);
}

bool read_file(const char *path, uint64_t limit, std::vector<unsigned char> &buf, std::string &why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = errno_msg("cannot open", path);
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        why = errno_msg("cannot stat", path);
        close(fd);
        return false;
    }
    if ((uint64_t)st.st_size > limit) {
        why = std::string(path) + ": " + std::to_string(st.st_size) +
              " bytes, too large for a model file of this shape";
        close(fd);
        return false;
    }
    buf.resize((size_t)st.st_size);
    size_t got = 0;
    while (got < buf.size()) {
        ssize_t r = read(fd, buf.data() + got, buf.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            why = errno_msg("cannot read", path);
            close(fd);
            return false;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf.resize(got);
    return true;
}

// Parse and check a model file image; on success fill params (kParamNames order).
bool decode_file(const lstm_shape_t &s, const std::vector<unsigned char> &buf,
                 std::vector<torch::Tensor> &params, std::string &why)
{
    if (buf.size() < kHeaderLen) {
        why = "truncated (" + std::to_string(buf.size()) + " bytes, shorter than the header)";
        return false;
    }
    const unsigned char *h = buf.data();
    if (memcmp(h, kMagic, 8) != 0) {
        why = "not an augur LSTM model file (bad magic)";
        return false;
    }
    if (get64(h + 56) != fnv1a(h, 56)) {
        why = "corrupt header (checksum mismatch)";
        return false;
    }
    if (get32(h + 8) != kVersion || get32(h + 12) != kHeaderLen) {
        why = "unsupported model file version " + std::to_string(get32(h + 8));
        return false;
    }
    // seq_len and batch are training settings, not part of the weights: a model trained with
    // other values is still this net's model.
    uint32_t fb = get32(h + 16), fe = get32(h + 20), fh = get32(h + 24);
    if (fb != s.buckets || fe != s.embed || fh != s.hidden) {
        why = "model shape " + shape_str(fb, fe, fh) + " (buckets x embed x hidden) differs from " +
              shape_str(s.buckets, s.embed, s.hidden);
        return false;
    }
    uint64_t plen = get64(h + 40);
    if (plen != buf.size() - kHeaderLen) {
        why = (plen > buf.size() - kHeaderLen ? "truncated (" : "trailing bytes (") +
              std::to_string(buf.size()) + " bytes, header says " +
              std::to_string(plen + kHeaderLen) + ")";
        return false;
    }
    if (get64(h + 48) != fnv1a(h + kHeaderLen, plen)) {
        why = "corrupt (payload checksum mismatch)";
        return false;
    }
    torch::serialize::InputArchive ar;
    ar.load_from(reinterpret_cast<const char *>(h + kHeaderLen), plen, torch::Device(torch::kCPU));
    auto sizes = param_sizes(s);
    params.assign(kParams, torch::Tensor());
    for (size_t i = 0; i < kParams; i++) {
        if (!ar.try_read(kParamNames[i], params[i])) {
            why = std::string("no tensor ") + kParamNames[i] + " in the model file";
            return false;
        }
        if (params[i].scalar_type() != torch::kFloat || params[i].sizes() != sizes[i]) {
            why = std::string("tensor ") + kParamNames[i] + " has the wrong type or size";
            return false;
        }
    }
    return true;
}

} // namespace

// ---- the C interface -----------------------------------------------------------------------

extern "C" {

SHIM_EXPORT int lstm_net_available(void)
{
    return 1;
}

SHIM_EXPORT void lstm_net_set_threads(int threads)
{
    guarded(nullptr, 0, "", 0, [&] {
        torch::set_num_threads(threads > 0 ? threads : 1);
        return 0;
    });
}

SHIM_EXPORT lstm_net_t *lstm_net_create(const lstm_shape_t *shape, char *err, size_t errlen)
{
    if (!shape) {
        set_err(err, errlen, "no shape");
        return nullptr;
    }
    if (const char *p = shape_problem(*shape)) {
        set_err(err, errlen, std::string("bad LSTM shape: ") + p);
        return nullptr;
    }
    return guarded(err, errlen, "cannot create the LSTM", (lstm_net_t *)nullptr, [&] {
        auto n = std::make_unique<lstm_net>();
        n->shape = *shape;
        n->rng = shape->seed ^ 0x6a09e667f3bcc909ULL;
        {
            std::lock_guard<std::mutex> g(g_init_mu);
            torch::manual_seed(shape->seed);
            n->train = std::make_shared<TrainNetImpl>(*shape);
        }
        n->opt = new_optimizer(*n);
        n->cur = snapshot(*n->train);
        zero_state(n.get());
        return n.release();
    });
}

SHIM_EXPORT void lstm_net_destroy(lstm_net_t *n)
{
    delete n;
}

SHIM_EXPORT int lstm_net_advance(lstm_net_t *n, const uint32_t *buckets, size_t count, char *err,
                                 size_t errlen)
{
    if (count == 0) return 0;
    if (!check_buckets(n, buckets, count, "bucket", err, errlen)) return -1;
    return guarded(err, errlen, "LSTM advance", -1, [&] {
        // InferenceMode rather than NoGradGuard: it also skips version counting and view
        // tracking, which halves the cost of a step made of a dozen small ops.
        c10::InferenceMode im;
        pick_up(n);
        const Weights &w = *n->cur;
        for (size_t i = 0; i < count; i++) {
            auto r = torch::lstm_cell(w.emb.narrow(0, buckets[i], 1), {n->h, n->c}, w.w_ih,
                                      w.w_hh, w.b_ih, w.b_hh);
            n->h = std::get<0>(r);
            n->c = std::get<1>(r);
        }
        n->have_logits = false;
        return 0;
    });
}

SHIM_EXPORT void lstm_net_reset(lstm_net_t *n)
{
    // On failure (two small allocations) the old state stays, which is still a usable state.
    guarded(nullptr, 0, "", 0, [&] {
        c10::InferenceMode im;
        pick_up(n);
        zero_state(n);
        return 0;
    });
}

// Exact: the normaliser is the logsumexp of every bucket's logit, so one matrix-vector product
// over the whole output layer per state, which also yields every candidate's logit. Both are
// kept until the state or the weights change, so further scores on one state are lookups.
// Sampling the normaliser instead was measured and rejected: see the README.
SHIM_EXPORT int lstm_net_score(lstm_net_t *n, const uint32_t *cand, size_t count, float *logp,
                               char *err, size_t errlen)
{
    if (!check_buckets(n, cand, count, "candidate", err, errlen)) return -1;
    return guarded(err, errlen, "LSTM score", -1, [&] {
        pick_up(n);
        if (!n->have_logits) {
            c10::InferenceMode im;
            const Weights &w = *n->cur;
            torch::addmv_out(n->logits, w.out_b, w.out_w, n->h.view({(int64_t)n->shape.hidden}));
            auto m = n->logits.max();
            torch::sub_out(n->scratch, n->logits, m).exp_();
            n->norm = m.item<float>() + std::log(n->scratch.sum().item<float>());
            n->have_logits = true;
        }
        const float *lp = n->logits.data_ptr<float>();
        for (size_t i = 0; i < count; i++) logp[i] = lp[cand[i]] - n->norm;
        return 0;
    });
}

SHIM_EXPORT float lstm_net_train(lstm_net_t *n, const uint32_t *seq, size_t len, char *err,
                                 size_t errlen)
{
    const lstm_shape_t &s = n->shape;
    if (!seq || len <= s.seq_len) {
        set_err(err, errlen,
                "training sequence of " + std::to_string(len) +
                    " accesses is not longer than seq_len " + std::to_string(s.seq_len));
        return -1;
    }
    return guarded(err, errlen, "LSTM train", -1.0f, [&] {
        const int64_t T = s.seq_len, B = s.batch;
        auto inp = torch::empty({T, B}, torch::kLong);
        auto tgt = torch::empty({T, B}, torch::kLong);
        auto ia = inp.accessor<int64_t, 2>();
        auto ta = tgt.accessor<int64_t, 2>();
        // Windows start anywhere a whole window plus its next bucket fits; only the sampled
        // buckets are range-checked, so a long ring buffer is not scanned every step.
        const uint64_t starts = len - s.seq_len;
        for (int64_t b = 0; b < B; b++) {
            size_t st = (size_t)(next_rand(&n->rng) % starts);
            for (int64_t t = 0; t <= T; t++) {
                uint32_t v = seq[st + t];
                if (v >= s.buckets) {
                    set_err(err, errlen,
                            "bucket " + std::to_string(v) + " at " + std::to_string(st + t) +
                                " out of range (buckets " + std::to_string(s.buckets) + ")");
                    return -1.0f;
                }
                if (t < T) ia[t][b] = v;
                if (t > 0) ta[t - 1][b] = v;
            }
        }
        n->train->train();
        n->opt->zero_grad();
        auto logits = n->train->forward(inp);
        auto loss = torch::nn::functional::cross_entropy(logits.view({T * B, (int64_t)s.buckets}),
                                                         tgt.view({T * B}));
        loss.backward();
        // An LSTM's gradients occasionally explode on an abrupt change in the stream; clipping
        // keeps one such batch from wrecking what was learnt.
        torch::nn::utils::clip_grad_norm_(n->train->parameters(), 5.0);
        n->opt->step();
        float l = loss.item<float>();
        if (!std::isfinite(l)) {
            set_err(err, errlen, "LSTM training diverged (loss is not finite)");
            return -1.0f;
        }
        return l;
    });
}

SHIM_EXPORT void lstm_net_publish(lstm_net_t *n)
{
    // Out of memory for the copy: inference keeps the previous weights until the next publish,
    // which is all a failed publish can mean.
    guarded(nullptr, 0, "", 0, [&] {
        hand_over(n, snapshot(*n->train));
        return 0;
    });
}

SHIM_EXPORT int lstm_net_save(lstm_net_t *n, const char *path, char *err, size_t errlen)
{
    std::string tmp = std::string(path) + ".tmp";
    std::string what = "cannot save the LSTM to " + std::string(path);
    int rc = guarded(err, errlen, what.c_str(), -1, [&] {
        std::string payload;
        {
            torch::NoGradGuard ng;
            auto p = train_params(*n->train);
            torch::serialize::OutputArchive ar;
            for (size_t i = 0; i < kParams; i++) ar.write(kParamNames[i], p[i].detach());
            ar.save_to([&payload](const void *buf, size_t len) -> size_t {
                payload.append(static_cast<const char *>(buf), len);
                return len;
            });
        }
        unsigned char hdr[kHeaderLen];
        encode_header(hdr, n->shape, payload.size(),
                      fnv1a(reinterpret_cast<const unsigned char *>(payload.data()),
                            payload.size()));
        int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            set_err(err, errlen, errno_msg("cannot create", tmp));
            return -1;
        }
        if (!write_all(fd, hdr, sizeof(hdr)) || !write_all(fd, payload.data(), payload.size()) ||
            fsync(fd) != 0) {
            set_err(err, errlen, errno_msg("cannot write", tmp));
            close(fd);
            return -1;
        }
        if (close(fd) != 0) {
            set_err(err, errlen, errno_msg("cannot write", tmp));
            return -1;
        }
        if (rename(tmp.c_str(), path) != 0) {
            set_err(err, errlen, errno_msg("cannot rename to", path));
            return -1;
        }
        // The rename itself must reach the disk, or a crash could bring the old file back.
        std::string dir(path);
        size_t slash = dir.rfind('/');
        dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
        int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        return 0;
    });
    if (rc != 0) unlink(tmp.c_str());
    return rc;
}

SHIM_EXPORT int lstm_net_load(lstm_net_t *n, const char *path, char *err, size_t errlen)
{
    std::string what = "cannot load the LSTM from " + std::string(path);
    return guarded(err, errlen, what.c_str(), -1, [&] {
        std::vector<unsigned char> buf;
        std::string why;
        if (!read_file(path, max_file_size(n->shape), buf, why)) {
            set_err(err, errlen, why);
            return -1;
        }
        std::vector<torch::Tensor> params;
        if (!decode_file(n->shape, buf, params, why)) {
            set_err(err, errlen, std::string(path) + ": " + why);
            return -1;
        }
        // Bad input has been refused by now; only allocation can still fail, so everything
        // new is built before the first weight is overwritten.
        auto fresh = std::make_shared<Weights>();
        fresh->emb = params[0];
        fresh->w_ih = params[1];
        fresh->w_hh = params[2];
        fresh->b_ih = params[3];
        fresh->b_hh = params[4];
        fresh->out_w = params[5];
        fresh->out_b = params[6];
        // Adam's moments belong to the weights being replaced.
        auto opt = new_optimizer(*n);
        {
            torch::NoGradGuard ng;
            auto p = train_params(*n->train);
            for (size_t i = 0; i < kParams; i++) p[i].copy_(params[i]);
        }
        n->opt = std::move(opt);
        hand_over(n, std::move(fresh));
        return 0;
    });
}

} // extern "C"
