using Microsoft.AspNetCore.Http;
using Vireo.Daemon;
using Vireo.Web;

namespace Vireo.Tests;

/// <summary>What the read-only socket serves, and the web console's login throttle.</summary>
public class AccessTests
{
    private static IQueryCollection Query(string q) => new QueryCollection(Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(q));

    [Theory]
    [InlineData("GET", "/v1/domains", "")]
    [InlineData("GET", "/v1/domains/web/xml", "?inactive=true")]
    [InlineData("GET", "/v1/domains/web/xml", "?securityInfo=false")]
    [InlineData("GET", "/v1/events", "")]
    [InlineData("GET", "/v1/domains/web/blockstats", "")]
    [InlineData("HEAD", "/v1/pools/default/volumes", "")]
    public void The_read_only_socket_serves_lists_xml_events_and_stats(string method, string path, string query) =>
        Assert.Null(ReadOnlyApi.Refusal(method, path, Query(query)));

    [Theory]
    [InlineData("POST", "/v1/domains/web/start", "", "changes things")]
    [InlineData("DELETE", "/v1/domains/web", "", "changes things")]
    [InlineData("PUT", "/v1/web/password", "", "changes things")]
    [InlineData("GET", "/v1/domains/web/console", "", "console takes input")]
    [InlineData("GET", "/v1/pools/default/volumes/disk.qcow2/data", "?offset=0", "contents")]
    [InlineData("GET", "/v1/domains/web/xml", "?securityInfo=true", "passwords")]
    [InlineData("GET", "/v1/domains/web/xml", "?securityInfo", "passwords")]
    public void The_read_only_socket_refuses_changes_consoles_contents_and_passwords(string method, string path, string query, string why) =>
        Assert.Contains(why, ReadOnlyApi.Refusal(method, path, Query(query)));

    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now = new(2026, 12, 4, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Five_wrong_logins_a_minute_are_allowed_per_address_then_it_waits_out_the_minute()
    {
        var clock = new Clock();
        var t = new LoginThrottle(clock);
        for (int i = 0; i < LoginThrottle.Allowed; i++)
        {
            Assert.Null(t.Refused("10.0.0.1"));
            t.Failed("10.0.0.1");
            clock.Now += TimeSpan.FromSeconds(5);
        }
        Assert.Equal(TimeSpan.FromSeconds(35), t.Refused("10.0.0.1"));   // a minute from the first failure
        Assert.Null(t.Refused("10.0.0.2"));                              // another address is not held up
        clock.Now += TimeSpan.FromSeconds(35);
        Assert.Null(t.Refused("10.0.0.1"));                              // the window has passed
        t.Failed("10.0.0.1");
        Assert.Null(t.Refused("10.0.0.1"));                              // and the count started again
        for (int i = 0; i < LoginThrottle.Allowed; i++) t.Failed("10.0.0.3");
        t.Succeeded("10.0.0.3");
        Assert.Null(t.Refused("10.0.0.3"));                              // a right login clears it
    }
}
