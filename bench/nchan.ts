/**
 * A throwaway nginx + nchan (Debian's `libnginx-mod-nchan`) for comparison runs: one
 * process (no master, one worker's worth of work), its files in a temp dir, listening on a
 * loopback port. Publishers POST to `/pub/<channel>`; subscribers GET `/sub/<channel>` in
 * nchan's `http-chunked` mode, which sends each message as one HTTP chunk on a keep-alive
 * stream. With event bodies ending in a newline, that is byte for byte the framing of a
 * PyPubSub stream.
 *
 * @module
 */

/** Where Debian installs the nchan module. */
export const NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/**
 * The nginx.conf text for a benchmark instance in `dir` on `port`, allowing `maxFiles`
 * open files. nginx + nchan takes more connection slots than it has sockets (with as many
 * slots as files it refused about 6 % of 19,900 subscribers), so it gets twice as many;
 * nginx warns that they exceed the file limit, which is the point.
 *
 * @example
 * ```ts
 * import { nchanConfig } from "./nchan.ts";
 * console.assert(nchanConfig("/tmp/n", 8080, 20000).includes("listen 127.0.0.1:8080"));
 * ```
 */
export function nchanConfig(dir: string, port: number, maxFiles: number): string {
  return `load_module ${NCHAN_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile ${maxFiles};
events {
  worker_connections ${2 * maxFiles};
}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location ~ ^/pub/(.+)$ {
      nchan_publisher;
      nchan_channel_id $1;
    }
    location ~ ^/sub/(.+)$ {
      nchan_subscriber http-chunked;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }
  }
}
`;
}
