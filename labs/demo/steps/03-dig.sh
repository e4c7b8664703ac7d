# Lab 03 (wirelab-dig): a small answer over UDP, then one that does not fit 512 bytes without
# EDNS0, so the server sets TC and wirelab-dig asks again over TCP. knotd runs on srv.
in_node h1 "$WIRELAB_BIN/wirelab-dig" +time=2 +tries=2 small.lab.test
in_node h1 "$WIRELAB_BIN/wirelab-dig" +time=2 +tries=2 +noedns medium.lab.test
in_node h1 "$WIRELAB_BIN/wirelab-dig" +time=2 +tries=2 +short -x 10.0.3.2
