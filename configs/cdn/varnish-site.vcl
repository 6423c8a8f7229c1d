# Where the edge answers: the lines to change. The probe and the timeouts
# are in varnish.vcl.
backend imgedge {
    .host = "127.0.0.1";
    .port = "8080";
    .probe = imgedge_alive;
}
