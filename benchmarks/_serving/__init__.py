"""The parts of ``bench_serving.py``, one concept a module; the script puts them in order.

* ``cases``: the real VW cases sent, and the request body each server takes;
* ``targets``: a server under test in its own process group (start, ready, CPU, stop) and what is sent
  to it;
* ``load``: wrk (``cycle.lua``) as the load generator, and the figures of one run;
* ``report``: the progress lines, the results table, the ratios and the goals;
* ``breakdown``: where the time of one in-process ``ScanRuntime.score`` call goes;
* ``asgi``: a BentoML service's ASGI app driven in this process (``bench_online_cpu.py``: CPU per request);
* ``plain_model``, ``bare_service``, ``plain_pyfunc``: the anchors, the champion served without governance
  by BentoML and by MLflow (loaded by those servers from this folder, so they import no project package).

Imported by the benchmark scripts only; it may import the project's packages and ``_setup``.
"""

SCAN = "vw"
