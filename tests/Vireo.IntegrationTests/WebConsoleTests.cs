using System.Net;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Vireo.IntegrationTests;

/// <summary>
/// The web console in a real headless Chromium (Debian's chromium and chromium-driver, driven
/// by Selenium) against a real daemon and the test guest. Screenshots of the pages go to
/// TestResults/screenshots (not committed).
/// </summary>
[Collection("vireo")]
public sealed class WebConsoleTests(VireoFixture fx)
{
    private static readonly string Shots = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "TestResults", "screenshots");

    [Fact]
    public async Task Log_in_watch_a_machine_start_and_stop_without_reloading()
    {
        var port = FreePort();
        await using var d = await TestDaemon.StartAsync(fx, web: $"127.0.0.1:{port}");
        // The console starts right after the API; its first-start token is in the log.
        var token = "";
        for (var sw = System.Diagnostics.Stopwatch.StartNew(); token.Length == 0 && sw.Elapsed.TotalSeconds < 30; await Task.Delay(50))
            token = System.Text.RegularExpressions.Regex.Match(d.Log, @"login token \(shown once.*\): ([a-z0-9]{24})").Groups[1].Value;
        Assert.Equal(24, token.Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(d.ConfigDir, "web", "credential")));
        Assert.DoesNotContain(token, await File.ReadAllTextAsync(Path.Combine(d.ConfigDir, "web", "credential")));
        await d.DefineAsync(d.GuestXml("web1"));
        var site = $"http://127.0.0.1:{port}";

        using var browser = Browser(d.Root);
        var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(60));
        // The pages swap fragments in as events arrive: an element found a moment ago may be replaced.
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        browser.Navigate().GoToUrl(site + "/");
        Assert.EndsWith("/login", browser.Url);
        Shot(browser, "login");

        // A wrong token is refused, with the error next to the field.
        browser.FindElement(By.Id("token")).SendKeys("not-the-token");
        browser.FindElement(By.Id("login")).Click();
        Assert.Equal("That token or password is not right.", wait.Until(b => b.FindElement(By.Id("login-error"))).Text);
        Assert.EndsWith("/login", browser.Url);

        browser.FindElement(By.Id("token")).SendKeys(token);
        browser.FindElement(By.Id("login")).Click();
        // (the row is read afresh each time: the event stream replaces it as it pleases)
        wait.Until(b => b.FindElement(By.Id("vm-web1")).GetAttribute("data-state") == "shut off");

        // Started from the CLI: the overview follows the daemon's events, no reload.
        var marker = (string)((IJavaScriptExecutor)browser).ExecuteScript("return window.vireoMarker = 'same page';");
        await d.OkAsync("start", "web1");
        wait.Until(b => b.FindElement(By.Id("vm-web1")).GetAttribute("data-state") == "running");
        Assert.Equal(marker, ((IJavaScriptExecutor)browser).ExecuteScript("return window.vireoMarker;"));
        Shot(browser, "overview");

        // The machine's page: Force off (asks first), then Run, from its buttons.
        browser.FindElement(By.LinkText("web1")).Click();
        wait.Until(b => b.FindElement(By.Id("state")).Text == "running");
        Shot(browser, "vm");
        browser.FindElement(By.Id("forceoff")).Click();
        wait.Until(ExpectedAlert).Accept();
        wait.Until(b => b.FindElement(By.Id("state")).Text == "shut off");
        Assert.StartsWith("shut off", await d.StateAsync("web1"));
        browser.FindElement(By.Id("run")).Click();
        wait.Until(b => b.FindElement(By.Id("state")).Text == "running");
        await d.WaitForSerialAsync("web1", "VIREO-GUEST-READY");

        // The serial console in xterm.js: type a command, read the guest's answer; again after a reload.
        browser.FindElement(By.Id("open-console")).Click();
        wait.Until(b => b.FindElement(By.Id("console-status")).Text == "connected");
        TypeInTerminal(browser, "echo web-$((6*7))-ok\n");
        wait.Until(b => TerminalText(b).Contains("web-42-ok"));
        Shot(browser, "console");
        browser.Navigate().Refresh();
        wait.Until(b => b.FindElement(By.Id("console-status")).Text == "connected");
        TypeInTerminal(browser, "echo again-$((7*7))\n");
        wait.Until(b => TerminalText(b).Contains("again-49"));
        // The terminal follows the window's size.
        var cols = Convert.ToInt64(((IJavaScriptExecutor)browser).ExecuteScript("return window.vireoTerm.cols;"));
        browser.Manage().Window.Size = new System.Drawing.Size(700, 900);
        wait.Until(b => Convert.ToInt64(((IJavaScriptExecutor)b).ExecuteScript("return window.vireoTerm.cols;")) < cols);
        browser.Manage().Window.Size = new System.Drawing.Size(1280, 900);
        browser.Navigate().GoToUrl(site + "/vm/web1");
        wait.Until(b => b.FindElement(By.Id("state")).Text == "running");

        // A shutdown from outside shows up on this page by itself.
        await d.OkAsync("destroy", "web1");
        wait.Until(b => b.FindElement(By.Id("state")).Text == "shut off");

        // The page's own requests carry the CSRF token; one without it is refused even with the session.
        var cookie = browser.Manage().Cookies.GetCookieNamed("vireo_session");
        Assert.NotNull(cookie);
        using (var http = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }))
        {
            var req = new HttpRequestMessage(HttpMethod.Post, site + "/vm/web1/start");
            req.Headers.Add("Cookie", $"vireo_session={cookie.Value}");
            var res = await http.SendAsync(req);
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
            Assert.Equal("Missing or wrong CSRF token: reload the page and try again.", await res.Content.ReadAsStringAsync());
            Assert.StartsWith("shut off", await d.StateAsync("web1"));
            // Another site's page cannot open the console socket, even with the session cookie.
            using (var ws = new System.Net.WebSockets.ClientWebSocket())
            {
                ws.Options.SetRequestHeader("Cookie", $"vireo_session={cookie.Value}");
                ws.Options.SetRequestHeader("Origin", "http://evil.example");
                ws.Options.CollectHttpResponseDetails = true;
                await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => ws.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/vm/web1/console/ws"), CancellationToken.None));
                Assert.Equal(HttpStatusCode.Forbidden, ws.HttpStatusCode);
            }
            // And without a session nothing is served but the login page.
            var anon = await http.GetAsync(site + "/vm/web1");
            Assert.Equal(HttpStatusCode.Redirect, anon.StatusCode);
            Assert.Equal("/login", anon.Headers.Location?.ToString());
        }

        // The create wizard: a bad field is named next to it and nothing is made; fixed, the machine is made and started.
        browser.FindElement(By.Id("nav-new")).Click();
        wait.Until(b => b.FindElement(By.Id("wizard")));
        browser.FindElement(By.Id("name")).SendKeys("wiz");
        Choose(browser, "os", "generic");
        browser.FindElement(By.Id("source-kernel")).Click();
        browser.FindElement(By.Id("kernel")).SendKeys($"{fx.GuestDir}/vmlinuz");
        browser.FindElement(By.Id("initrd")).SendKeys($"{fx.GuestDir}/initrd.img");
        browser.FindElement(By.Id("kernel_args")).SendKeys("console=ttyS0 quiet panic=-1");
        Replace(browser.FindElement(By.Id("memory")), "128");
        Replace(browser.FindElement(By.Id("disk")), "0.03");
        Choose(browser, "network", "none");
        browser.FindElement(By.Id("user_data")).SendKeys("hostname: wiz-host\n  bad: [indent");
        browser.FindElement(By.Id("create")).Click();
        var fieldErrors = wait.Until(b => b.FindElements(By.CssSelector(".field-error[data-field='user_data']")) is { Count: 2 } l ? l : null);
        Assert.Equal("User data must start with the line #cloud-config (cloud-init ignores it otherwise).", fieldErrors[0].Text);
        Assert.StartsWith("User data is not valid YAML (line 2, column", fieldErrors[1].Text);
        Assert.Equal("wiz", browser.FindElement(By.Id("name")).GetAttribute("value"));   // what was typed stays
        Shot(browser, "wizard-errors");
        Assert.DoesNotContain("wiz", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
        Replace(browser.FindElement(By.Id("user_data")), "#cloud-config\nhostname: wiz-host\n");
        Replace(browser.FindElement(By.Id("memory")), "lots");
        browser.FindElement(By.Id("create")).Click();
        Assert.Equal("--memory 'lots' is not a size in MiB, like --memory 2048.",
            wait.Until(b => b.FindElement(By.CssSelector(".field-error[data-field='memory']"))).Text);
        Replace(browser.FindElement(By.Id("memory")), "128");
        browser.FindElement(By.Id("create")).Click();
        wait.Until(b => b.Url.EndsWith("/vm/wiz"));
        wait.Until(b => b.FindElement(By.Id("state")).Text == "running");
        Assert.StartsWith("running", await d.StateAsync("wiz"));
        var vols = await d.OkAsync("vol-list", "default");
        Assert.Contains("wiz.qcow2", vols);
        Assert.Contains("wiz-cidata.iso", vols);

        // Prometheus' view, with the credential as a bearer token (and nothing without it).
        using (var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }))
        {
            var req = new HttpRequestMessage(HttpMethod.Get, site + "/metrics");
            req.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            var metrics = await (await http.SendAsync(req)).Content.ReadAsStringAsync();
            Assert.Contains("vireo_domain_info{domain=\"web1\",state=\"shut off\"} 1", metrics);
            Assert.Contains("vireo_domain_info{domain=\"wiz\",state=\"running\"} 1", metrics);
            Assert.Contains("# TYPE vireo_domain_cpu_seconds_total counter", metrics);
            Assert.Matches(@"vireo_domain_cpu_seconds_total\{domain=""wiz""\} [0-9.]+", metrics);
            Assert.Matches(@"vireo_domain_resident_bytes\{domain=""wiz""\} [0-9.E+]+", metrics);
            Assert.Matches(@"vireo_domain_block_read_bytes_total\{domain=""wiz"",disk=""sda""\} [0-9.E+]+", metrics);
            req = new HttpRequestMessage(HttpMethod.Get, site + "/metrics");
            req.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "wrong");
            Assert.Equal(HttpStatusCode.Redirect, (await http.SendAsync(req)).StatusCode);
        }

        // Its last hour, sampled by the daemon, drawn as charts that redraw themselves.
        wait.Until(b => b.FindElements(By.CssSelector("#chart-cpu polyline")).Count == 1
            && b.FindElement(By.CssSelector("#chart-cpu polyline")).GetAttribute("points")!.Split(' ').Length >= 2);
        Assert.Single(browser.FindElements(By.CssSelector("#chart-memory polyline")));
        Assert.Equal(2, browser.FindElements(By.CssSelector("#chart-disk polyline")).Count);
        // QEMU's resident memory for a 128 MiB TCG guest: tens to hundreds of MiB.
        Assert.Matches(@"^[0-9.]+ MiB$", browser.FindElement(By.CssSelector("#chart-memory .now")).Text);
        Shot(browser, "vm-graphs");

        // Autostart from its page; the storage and network pages list what there is.
        browser.FindElement(By.Id("autostart")).Click();
        wait.Until(b => b.FindElement(By.Id("autostart")).Selected);
        Assert.Contains("Autostart:      enable", await d.OkAsync("dominfo", "wiz"));
        browser.FindElement(By.Id("nav-storage")).Click();
        wait.Until(b => b.FindElement(By.Id("pool-default")).Text.Contains("wiz-cidata.iso"));
        Shot(browser, "storage");
        browser.FindElement(By.Id("nav-networks")).Click();
        wait.Until(b => b.FindElement(By.CssSelector("table.nets")));

        // Delete, with its volumes, after a confirmation.
        browser.Navigate().GoToUrl(site + "/vm/wiz");
        browser.FindElement(By.Id("remove-storage")).Click();
        browser.FindElement(By.Id("delete")).Click();
        Assert.Equal("Delete 'wiz'? Its volumes are deleted too.", wait.Until(ExpectedAlert)!.Text);
        browser.SwitchTo().Alert().Accept();
        wait.Until(b => b.Url == site + "/");
        Assert.DoesNotContain("wiz", (await d.OkAsync("list", "--all", "--name")).Split('\n'));
        Assert.DoesNotContain("wiz.qcow2", await d.OkAsync("vol-list", "default"));

        // A guest with VNC graphics: its screen through noVNC on the daemon's WebSocket bridge.
        await d.DefineAsync(d.GuestXml("gfx", devices: "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/><video><model type='vga'/></video>"));
        await d.OkAsync("start", "gfx");
        browser.Navigate().GoToUrl(site + "/vm/gfx");
        browser.FindElement(By.Id("open-vnc")).Click();
        wait.Until(b => b.FindElement(By.Id("vnc-status")).Text == "connected");
        var width = Convert.ToInt64(((IJavaScriptExecutor)browser).ExecuteScript("return document.querySelector('#screen canvas').width;"));
        Assert.True(width >= 640, $"the VNC canvas is {width} px wide");
        Shot(browser, "vnc");
        await d.OkAsync("destroy", "gfx");
        wait.Until(b => b.FindElement(By.Id("vnc-status")).Text.StartsWith("disconnected"));

        // A password set with the CLI replaces the token.
        var set = await d.RunWithInputAsync(async w => { await w.WriteLineAsync("correct horse battery"); w.Close(); }, "web-password");
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Equal("error: The web console password needs at least 8 characters.\n",
            (await d.RunWithInputAsync(async w => { await w.WriteLineAsync("short"); w.Close(); }, "web-password")).Stderr);
        browser.FindElement(By.CssSelector("form.logout button")).Click();
        wait.Until(b => b.Url.EndsWith("/login"));
        browser.FindElement(By.Id("token")).SendKeys(token);
        browser.FindElement(By.Id("login")).Click();
        wait.Until(b => b.FindElement(By.Id("login-error")));
        browser.FindElement(By.Id("token")).SendKeys("correct horse battery");
        browser.FindElement(By.Id("login")).Click();
        wait.Until(b => b.FindElement(By.Id("vm-web1")));

        // No errors in the browser's console on any page.
        var errors = browser.Manage().Logs.GetLog(LogType.Browser).Where(e => e.Level >= OpenQA.Selenium.LogLevel.Severe).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
    }

    private static void Choose(IWebDriver b, string select, string value) =>
        b.FindElement(By.CssSelector($"#{select} option[value='{value}']")).Click();

    private static void Replace(IWebElement e, string text)
    {
        e.Clear();
        e.SendKeys(text);
    }

    private static void TypeInTerminal(IWebDriver b, string text) =>
        b.FindElement(By.CssSelector(".xterm-helper-textarea")).SendKeys(text.Replace("\n", Keys.Enter));

    /// <summary>What xterm.js shows, from its buffer (the screen is drawn, not text in the DOM).</summary>
    private static string TerminalText(IWebDriver b) => (string)((IJavaScriptExecutor)b).ExecuteScript("""
        const buf = window.vireoTerm.buffer.active; let out = [];
        for (let i = 0; i < buf.length; i++) { const l = buf.getLine(i); if (l) out.push(l.translateToString(true)); }
        return out.join("\n");
        """);

    private static IAlert? ExpectedAlert(IWebDriver b)
    {
        try { return b.SwitchTo().Alert(); }
        catch (NoAlertPresentException) { return null; }
    }

    private static ChromeDriver Browser(string root)
    {
        var o = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        o.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1280,900", $"--user-data-dir={Path.Combine(root, "chromium")}");
        o.SetLoggingPreference(LogType.Browser, OpenQA.Selenium.LogLevel.All);
        // Debian's chromedriver: Selenium Manager would try to download one.
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.HideCommandPromptWindow = true;
        return new ChromeDriver(service, o, TimeSpan.FromSeconds(60));
    }

    private static void Shot(IWebDriver b, string name)
    {
        Directory.CreateDirectory(Shots);
        ((ITakesScreenshot)b).GetScreenshot().SaveAsFile(Path.Combine(Shots, name + ".png"));
    }

    private static int FreePort() => Net.FreePort();
}
