# syntax=docker/dockerfile:1
# partyd container image: build stage (compilers, -dev packages) and a slim runtime stage.
#   docker build -t partyd .
#   docker run --rm -p 8080:8080 -e PARTYD_ADMIN_TOKEN=secret partyd

FROM debian:bookworm-slim AS builder
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev \
      libconcurrentqueue-dev libhiredis-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARTYD_TESTS=OFF -DPARTYD_BENCH=OFF \
 && cmake --build build --target partyd -j "$(nproc)" \
 && strip build/partyd

FROM debian:bookworm-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libboost-json1.81.0 libboost-program-options1.81.0 libhiredis0.14 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system partyd \
 && useradd --system --gid partyd --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin partyd
COPY --from=builder /src/build/partyd /usr/local/bin/partyd
USER partyd:partyd
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/partyd"]
CMD ["--port", "8080", "--bind", "0.0.0.0"]
