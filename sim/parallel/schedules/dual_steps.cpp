#include "dual_steps.hpp"

namespace gpuhours::detail {

void dual_steps(DualRankOps& r, int n, int h, int per_chunk, int a) {
  const int b = 1 - a;
  const int rest = n - h - 1;
  // 1. warm-up forwards of chunk a.
  for (int i = 0; i < 2 * rest; ++i) r.forward(a);
  // 2. forwards of both chunks.
  for (int i = 0; i <= h; ++i) {
    r.forward(a);
    r.forward(b);
  }
  // 3. split backward of chunk b, the W just deferred, a forward of chunk b.
  for (int i = 0; i < rest; ++i) {
    r.backward(b, true);
    r.weight();
    r.forward(b);
  }
  // 4. main steps: F(a)&B(b), then F(b)&B(a). The fold rank runs its first pair one after the
  //    other (the reference does not overlap them, to shorten the bubble).
  const int main_steps = per_chunk - 2 * n + h + 1;
  for (int i = 0; i < main_steps; ++i) {
    if (i == 0 && h == n - 1) {
      r.forward(a);
      r.backward(b, false);
    } else {
      r.overlapped(a, b);
    }
    r.overlapped(b, a);
  }
  // 5. a full backward of chunk b, then F(b)&B(a).
  for (int i = 0; i < rest; ++i) {
    r.backward(b, false);
    r.overlapped(b, a);
  }
  // 6. backwards of both chunks; from the middle one on they are split into B and a deferred W
  //    (for odd h the switch comes before the chunk-b backward of that step, for even h after it).
  bool split = false;
  for (int i = 0; i <= h; ++i) {
    if (i == (h + 1) / 2 && h % 2 == 1) split = true;
    r.backward(b, split);
    if (i == (h + 1) / 2 && h % 2 == 0) split = true;
    r.backward(a, split);
  }
  // 7. a deferred W, then a split backward of chunk a.
  for (int i = 0; i < rest; ++i) {
    r.weight();
    r.backward(a, true);
  }
  // 8. the remaining deferred W.
  for (int i = 0; i <= h; ++i) r.weight();
}

}  // namespace gpuhours::detail
