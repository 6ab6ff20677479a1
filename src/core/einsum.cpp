// einsum and einsum_path: subscripts parsed (implicit output, ellipses,
// repeated letters), a contraction order chosen greedily (opt_einsum's
// greedy rule, which NumPy and MLX follow: at each step the pair whose
// contraction removes the most elements, then the cheapest), and each step
// run as one batched matrix product (or products and sums for integers and
// for steps of more than two operands).
#include "rill/einsum.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "core/op_checks.h"
#include "rill/ops.h"

namespace rill {

namespace {

using Letters = std::set<char>;

struct Term {
  std::string str;
  Letters set;
  Term() = default;
  explicit Term(std::string s) : str(std::move(s)), set(str.begin(), str.end()) {}
};

struct Step {
  std::vector<Term> inputs;
  Term output;
  std::vector<int> positions;
};

struct Plan {
  std::vector<Step> steps;
  size_t naive_cost = 0, optimized_cost = 0;
  int naive_scaling = 0, optimized_scaling = 0;
};

using Dims = std::map<char, int64_t>;

size_t term_size(const Letters& t, const Dims& dims) {
  size_t n = 1;
  for (char c : t) n *= dims.at(c);
  return n;
}

// NumPy's flop count: the elements of the joint index space times the number
// of products (one fewer than the terms), plus one for the sums when some
// letter is summed out.
size_t flop_count(const Letters& letters, bool inner, int terms, const Dims& dims) {
  size_t factor = std::max(1, terms - 1);
  if (inner) ++factor;
  return term_size(letters, dims) * factor;
}

std::pair<size_t, int> cost_and_scaling(const std::vector<Term>& in, const Term& out,
                                        const Dims& dims) {
  Letters all;
  for (const Term& t : in) all.insert(t.set.begin(), t.set.end());
  bool inner = std::any_of(all.begin(), all.end(), [&](char c) { return !out.set.count(c); });
  return {flop_count(all, inner, static_cast<int>(in.size()), dims),
          static_cast<int>(all.size())};
}

std::pair<std::vector<std::string>, std::string> split_subscripts(std::string sub) {
  sub.erase(std::remove(sub.begin(), sub.end(), ' '), sub.end());
  std::string lhs, rhs;
  if (auto pos = sub.find("->"); pos != std::string::npos) {
    lhs = sub.substr(0, pos);
    rhs = sub.substr(pos + 2);
  } else {
    // Implicit output: the ellipsis first, then the letters seen once, sorted.
    lhs = sub;
    std::map<char, int> count;
    bool ellipsis = false;
    for (char c : sub) {
      if (c == ',') continue;
      if (c == '.') {
        ellipsis = true;
        continue;
      }
      ++count[c];
    }
    if (ellipsis) rhs = "...";
    for (auto [c, k] : count) {
      if (k == 1) rhs += c;
    }
  }
  std::vector<std::string> ins;
  std::string tok;
  std::stringstream ss(lhs);
  while (std::getline(ss, tok, ',')) ins.push_back(tok);
  if (!lhs.empty() && lhs.back() == ',') ins.push_back("");
  return {ins, rhs};
}

std::vector<Step> greedy(std::vector<Term> inputs, const Term& output, const Dims& dims,
                         size_t cost_limit, size_t memory_limit, Plan& plan) {
  struct Candidate {
    int64_t removed;
    size_t cost;
    Letters out;
    int dims;
    int x, y;
  };
  std::vector<Step> path;
  std::vector<Candidate> candidates;
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < int(inputs.size()); ++i) {
    for (int j = i + 1; j < int(inputs.size()); ++j) pairs.emplace_back(i, j);
  }
  size_t path_cost = 0;
  int scaling = 0;
  const size_t n_in = inputs.size();
  for (size_t step = 0; step + 1 < n_in; ++step) {
    auto consider = [&](int p, int q) {
      Letters joint = inputs[p].set;
      joint.insert(inputs[q].set.begin(), inputs[q].set.end());
      Letters kept;
      for (int i = 0; i < int(inputs.size()); ++i) {
        if (i == p || i == q) continue;
        for (char c : inputs[i].set) {
          if (joint.count(c)) kept.insert(c);
        }
      }
      for (char c : output.set) {
        if (joint.count(c)) kept.insert(c);
      }
      size_t size = term_size(kept, dims);
      if (size > memory_limit) return;
      int64_t removed = int64_t(term_size(inputs[p].set, dims) +
                                term_size(inputs[q].set, dims)) - int64_t(size);
      size_t cost = flop_count(joint, joint.size() > kept.size(), 2, dims);
      if (path_cost + cost > cost_limit) return;
      candidates.push_back({removed, cost, std::move(kept), int(joint.size()), p, q});
    };
    auto disjoint = [&](int p, int q) {
      for (char c : inputs[p].set) {
        if (inputs[q].set.count(c)) return false;
      }
      return true;
    };
    for (auto [p, q] : pairs) {
      if (!disjoint(p, q)) consider(p, q);
    }
    if (candidates.empty()) {
      for (auto [p, q] : pairs) consider(p, q);
    }
    if (candidates.empty()) {
      std::vector<int> pos(inputs.size());
      std::iota(pos.begin(), pos.end(), 0);
      auto [cost, sc] = cost_and_scaling(inputs, output, dims);
      path.push_back({std::move(inputs), output, std::move(pos)});
      path_cost += cost;
      scaling = std::max(scaling, sc);
      inputs.clear();
      break;
    }
    const Candidate best = *std::min_element(
        candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
          return a.removed > b.removed || (a.removed == b.removed && a.cost < b.cost);
        });
    scaling = std::max(scaling, best.dims);
    std::string out_str(best.out.begin(), best.out.end());
    std::stable_sort(out_str.begin(), out_str.end(),
                     [&](char a, char b) { return dims.at(a) < dims.at(b); });
    Term new_term(out_str);
    path.push_back({{inputs[best.x], inputs[best.y]}, new_term, {best.x, best.y}});
    inputs.erase(inputs.begin() + best.y);
    inputs.erase(inputs.begin() + best.x);
    inputs.push_back(new_term);
    std::vector<Candidate> kept;
    for (Candidate& c : candidates) {
      if (c.x == best.x || c.x == best.y || c.y == best.x || c.y == best.y) continue;
      c.x -= (c.x > best.x) + (c.x > best.y);
      c.y -= (c.y > best.x) + (c.y > best.y);
      kept.push_back(std::move(c));
    }
    candidates = std::move(kept);
    pairs.clear();
    for (int i = 0; i + 1 < int(inputs.size()); ++i) {
      pairs.emplace_back(i, int(inputs.size()) - 1);
    }
    path_cost += best.cost;
  }
  plan.optimized_cost = path_cost;
  plan.optimized_scaling = scaling;
  return path;
}

Plan make_plan(const std::string& subscripts, const std::vector<array>& operands,
               const char* fn, Dims& dims) {
  if (operands.empty()) fail(fn, "at least one operand is required.");
  auto [in_subs, out_sub] = split_subscripts(subscripts);
  if (operands.size() != in_subs.size()) {
    fail(fn, cat("number of operands, ", operands.size(),
                 ", does not match number of input subscripts, ", in_subs.size(), "."));
  }
  // Ellipses become letters not used elsewhere, the last ones of a-zA-Z, so
  // that operands with fewer axes line up on the right.
  std::set<char> used(subscripts.begin(), subscripts.end());
  std::string spare;
  for (char c = 'a'; c <= 'z'; ++c) {
    if (!used.count(c)) spare += c;
  }
  for (char c = 'A'; c <= 'Z'; ++c) {
    if (!used.count(c)) spare += c;
  }
  int max_ellipsis = 0;
  auto expand = [&](std::string& sub, const array* operand, int idx) {
    bool has = false;
    int before = 0, after = 0;
    for (size_t i = 0; i < sub.size(); ++i) {
      if (!std::isalpha(static_cast<unsigned char>(sub[i]))) {
        if (i + 2 >= sub.size() || sub.compare(i, 3, "...") != 0) {
          fail(fn, cat("subscripts must be letters, but got '", sub[i], "'."));
        }
        if (has) {
          fail(fn, cat("only one ellipsis per subscript is allowed but found more in '", sub,
                       "'."));
        }
        has = true;
        i += 2;
        continue;
      }
      (has ? after : before)++;
    }
    if (!has) return;
    int len;
    if (operand) {
      len = operand->ndim() - before - after;
      if (len < 0) {
        fail(fn, cat("operand ", idx, " with shape ", tuple_str(operand->shape()),
                     " has insufficient dimensions for subscript '", sub,
                     "'. The ellipsis requires at least ", before + after,
                     " dimensions but the operand has ", operand->ndim(), " dimensions."));
      }
      max_ellipsis = std::max(max_ellipsis, len);
    } else {
      len = max_ellipsis;
    }
    if (len > int(spare.size())) fail(fn, "too many dimensions under the ellipsis.");
    sub.replace(before, 3, spare.substr(spare.size() - len));
  };
  for (size_t i = 0; i < operands.size(); ++i) expand(in_subs[i], &operands[i], int(i));
  expand(out_sub, nullptr, -1);
  Term output(out_sub);
  if (output.set.size() != out_sub.size()) fail(fn, "repeat indices not allowed in output.");
  std::vector<Term> inputs;
  for (size_t i = 0; i < in_subs.size(); ++i) {
    const std::string& in = in_subs[i];
    const array& op = operands[i];
    if (int(in.size()) != op.ndim()) {
      fail(fn, cat("invalid number of subscripts ", in.size(), " for input ", i, " with ",
                   op.ndim(), " dimensions."));
    }
    std::map<char, int> local;
    for (size_t j = 0; j < in.size(); ++j) {
      auto [it, fresh] = local.insert({in[j], op.shape(int(j))});
      if (!fresh && it->second != op.shape(int(j))) {
        fail(fn, cat("dimensions of repeated subscripts do not have the same size (",
                     it->second, " != ", op.shape(int(j)), ")."));
      }
    }
    for (size_t j = 0; j < in.size(); ++j) {
      int64_t d = op.shape(int(j));
      auto [it, fresh] = dims.insert({in[j], d});
      if (!fresh && d != 1 && it->second != 1 && it->second != d) {
        fail(fn, cat("cannot broadcast dimension ", j, " of input ", i, " with shape ",
                     tuple_str(op.shape()), " to size ", it->second, "."));
      }
      it->second = std::max(it->second, d);
    }
    inputs.emplace_back(in);
  }
  for (char c : out_sub) {
    if (!dims.count(c)) {
      fail(fn, cat("output subscript '", c, "' does not appear in the inputs."));
    }
  }
  size_t max_size = term_size(output.set, dims);
  for (const Term& t : inputs) max_size = std::max(max_size, term_size(t.set, dims));
  Plan plan;
  std::tie(plan.naive_cost, plan.naive_scaling) = cost_and_scaling(inputs, output, dims);
  if (inputs.size() <= 2) {
    std::vector<int> pos(inputs.size());
    std::iota(pos.begin(), pos.end(), 0);
    plan.steps.push_back({std::move(inputs), output, std::move(pos)});
    plan.optimized_cost = plan.naive_cost;
    plan.optimized_scaling = plan.naive_scaling;
  } else {
    plan.steps = greedy(inputs, output, dims, plan.naive_cost, max_size, plan);
    plan.steps.back().output = output;
  }
  return plan;
}

// x (subscript `sub`) with each repeated letter reduced to its diagonal and
// the letters in `drop` summed out; `sub` is updated to match.
array simplify(array x, std::string& sub, const Letters& keep, const StreamOrDevice& s) {
  for (;;) {
    bool changed = false;
    for (size_t i = 0; i < sub.size() && !changed; ++i) {
      size_t j = sub.find(sub[i], i + 1);
      if (j == std::string::npos) continue;
      // diagonal moves the pair to a new last axis.
      x = diagonal(x, 0, int(i), int(j), s);
      char c = sub[i];
      sub.erase(j, 1);
      sub.erase(i, 1);
      sub += c;
      changed = true;
    }
    if (!changed) break;
  }
  std::vector<int> axes;
  std::string rest;
  for (size_t i = 0; i < sub.size(); ++i) {
    if (keep.count(sub[i])) {
      rest += sub[i];
    } else {
      axes.push_back(int(i));
    }
  }
  if (!axes.empty()) x = sum(x, axes, false, s);
  sub = rest;
  return x;
}

// x laid out over `order` (letters it lacks become size-1 axes).
array arrange(const array& x, const std::string& sub, const std::string& order,
              const StreamOrDevice& s) {
  std::vector<int> perm;
  Shape shape;
  for (char c : order) {
    size_t p = sub.find(c);
    if (p != std::string::npos) perm.push_back(int(p));
  }
  array t = transpose(x, perm, s);
  for (char c : order) shape.push_back(sub.find(c) != std::string::npos ? x.shape(int(sub.find(c))) : 1);
  return reshape(t, shape, s);
}

// One step: the inputs contracted to `out`.
array contract(std::vector<array> xs, std::vector<std::string> subs, const std::string& out,
               const Dims& dims, const StreamOrDevice& s) {
  // Letters that another input or the output needs survive simplify.
  for (size_t i = 0; i < xs.size(); ++i) {
    Letters keep(out.begin(), out.end());
    for (size_t j = 0; j < xs.size(); ++j) {
      if (j != i) keep.insert(subs[j].begin(), subs[j].end());
    }
    xs[i] = simplify(xs[i], subs[i], keep, s);
  }
  Dtype t = xs[0].dtype();
  for (const array& x : xs) t = promote_types(t, x.dtype());
  if (xs.size() == 2 && is_floating_point(t)) {
    const std::string &sa = subs[0], &sb = subs[1];
    std::string batch, fa, fb, k;
    for (char c : sa) {
      if (sb.find(c) == std::string::npos) {
        fa += c;
      } else if (out.find(c) != std::string::npos) {
        batch += c;
      } else {
        k += c;
      }
    }
    for (char c : sb) {
      if (sa.find(c) == std::string::npos) fb += c;
    }
    auto full = [&](const std::string& letters) {
      Shape sh;
      for (char c : letters) sh.push_back(int(dims.at(c)));
      return sh;
    };
    auto prod = [&](const std::string& letters) {
      int64_t n = 1;
      for (char c : letters) n *= dims.at(c);
      return int(n);
    };
    // Shared letters broadcast to their full size; a letter of one operand
    // keeps its own.
    auto lay = [&](const array& x, const std::string& sub, const std::string& order) {
      array y = arrange(astype(x, t, s), sub, order, s);
      Shape target = y.shape();
      for (size_t i = 0; i < order.size(); ++i) {
        if (sa.find(order[i]) != std::string::npos && sb.find(order[i]) != std::string::npos) {
          target[i] = int(dims.at(order[i]));
        }
      }
      return y.shape() == target ? y : broadcast_to(y, target, s);
    };
    array a = reshape(lay(xs[0], sa, batch + fa + k), {prod(batch), prod(fa), prod(k)}, s);
    array b = reshape(lay(xs[1], sb, batch + k + fb), {prod(batch), prod(k), prod(fb)}, s);
    std::string got = batch + fa + fb;
    Shape got_shape = full(batch);
    for (char c : fa) got_shape.push_back(xs[0].shape(int(sa.find(c))));
    for (char c : fb) got_shape.push_back(xs[1].shape(int(sb.find(c))));
    array r = reshape(matmul(a, b, s), got_shape, s);
    std::vector<int> perm;
    for (char c : out) perm.push_back(int(got.find(c)));
    return transpose(r, perm, s);
  }
  // Products over the union of the letters, then sums.
  std::string all;
  for (const std::string& sub : subs) {
    for (char c : sub) {
      if (all.find(c) == std::string::npos) all += c;
    }
  }
  array r = arrange(astype(xs[0], t, s), subs[0], all, s);
  for (size_t i = 1; i < xs.size(); ++i) {
    r = multiply(r, arrange(astype(xs[i], t, s), subs[i], all, s), s);
  }
  std::vector<int> axes;
  std::string left;
  for (size_t i = 0; i < all.size(); ++i) {
    if (out.find(all[i]) == std::string::npos) {
      axes.push_back(int(i));
    } else {
      left += all[i];
    }
  }
  if (!axes.empty()) r = sum(r, axes, false, s);
  std::vector<int> perm;
  for (char c : out) perm.push_back(int(left.find(c)));
  r = transpose(r, perm, s);
  // Letters of size 1 everywhere they were seen may be wider in the result.
  Shape want;
  for (char c : out) want.push_back(int(dims.at(c)));
  return r.shape() == want ? r : broadcast_to(r, want, s);
}

}  // namespace

std::pair<std::vector<std::vector<int>>, std::string> einsum_path(
    const std::string& subscripts, const std::vector<array>& operands) {
  OuterOp outer("einsum_path");
  Dims dims;
  Plan plan = make_plan(subscripts, operands, "einsum_path", dims);
  std::vector<std::vector<int>> path;
  for (const Step& st : plan.steps) path.push_back(st.positions);
  std::ostringstream text;
  text << "  Complete contraction:  " << subscripts << "\n"
       << "         Naive scaling:  " << plan.naive_scaling << "\n"
       << "     Optimized scaling:  " << plan.optimized_scaling << "\n"
       << "      Naive FLOP count:  " << plan.naive_cost << "\n"
       << "  Optimized FLOP count:  " << plan.optimized_cost << "\n";
  return {path, text.str()};
}

array einsum(const std::string& subscripts, const std::vector<array>& operands,
             StreamOrDevice s) {
  OuterOp outer("einsum");
  Dims dims;
  Plan plan = make_plan(subscripts, operands, "einsum", dims);
  std::vector<array> arrays = operands;
  for (const Step& st : plan.steps) {
    std::vector<array> xs;
    std::vector<std::string> subs;
    for (size_t i = 0; i < st.positions.size(); ++i) {
      xs.push_back(arrays[st.positions[i]]);
      subs.push_back(st.inputs[i].str);
    }
    array r = contract(std::move(xs), std::move(subs), st.output.str, dims, s);
    std::vector<int> pos = st.positions;
    std::sort(pos.rbegin(), pos.rend());
    for (int p : pos) arrays.erase(arrays.begin() + p);
    arrays.push_back(std::move(r));
  }
  return arrays.front();
}

}  // namespace rill
