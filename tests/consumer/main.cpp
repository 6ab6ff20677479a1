// Evaluates 1 + 1 through an installed rill.
#include <cstdio>

#include <rill/rill.h>

int main() {
  rill::array a(1.0f);
  rill::array b = a + a;
  rill::eval(b);
  float v = b.item<float>();
  std::printf("1 + 1 = %g\n", v);
  return v == 2.0f ? 0 : 1;
}
