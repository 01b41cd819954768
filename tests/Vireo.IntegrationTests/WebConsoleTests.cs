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
        var token = await TokenAsync(d);
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
        // Checked while typed, before any submit.
        wait.Until(b => b.FindElements(By.CssSelector("#user-data-check .field-error")).Count == 2);
        Choose(browser, "graphics", "vnc");
        Replace(browser.FindElement(By.Id("graphics_listen")), "anywhere");
        browser.FindElement(By.Id("create")).Click();
        Assert.Equal("Listen address 'anywhere' is not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (every network).",
            wait.Until(b => b.FindElement(By.CssSelector(".field-error[data-field='graphics']"))).Text);
        Replace(browser.FindElement(By.Id("graphics_listen")), "127.0.0.1");
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
        Assert.Contains("<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'", await d.OkAsync("dumpxml", "wiz", "--inactive"));

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
        // Off, the page waits for it (opening no socket that would be refused), and connects when it runs again.
        await d.OkAsync("destroy", "gfx");
        wait.Until(b => b.FindElement(By.Id("vnc-status")).Text == "disconnected ('gfx' is not running); reconnecting when it runs…");
        await d.OkAsync("start", "gfx");
        wait.Until(b => b.FindElement(By.Id("vnc-status")).Text == "connected");
        await d.OkAsync("destroy", "gfx");

        // A SPICE desktop as virt-install writes it (qxl, a password): its screen through spice-html5,
        // a WebSocket per SPICE channel bridged to QEMU's SPICE server.
        await d.DefineAsync(d.GuestXml("sgfx", devices: "<graphics type='spice' autoport='yes' passwd='s3cret'><image compression='off'/></graphics><video><model type='qxl'/></video>"));
        await d.OkAsync("start", "sgfx");
        browser.Navigate().GoToUrl(site + "/vm/sgfx");
        browser.FindElement(By.Id("open-spice")).Click();
        wait.Until(b => b.FindElement(By.Id("spice-status")).Text == "connected");
        wait.Until(b => Convert.ToInt64(((IJavaScriptExecutor)b).ExecuteScript("const c = document.querySelector('#spice-screen canvas'); return c ? c.width : 0;")) >= 640);
        Shot(browser, "spice");
        await d.OkAsync("destroy", "sgfx");
        wait.Until(b => b.FindElement(By.Id("spice-status")).Text.Contains("reconnecting"));

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

    [Fact]
    public async Task Change_devices_snapshots_networks_and_storage_from_the_browser()
    {
        // Networks are made here, so the daemon runs in a namespace of its own; its console is on a
        // unix socket, which the browser on the host reaches through a forwarder (a reverse proxy's part).
        await using var ns = await NetNs.CreateAsync();
        var sockDir = Directory.CreateTempSubdirectory("vireo-web-");
        try
        {
            var sock = Path.Combine(sockDir.FullName, "web.sock");
            await using var d = await TestDaemon.StartAsync(fx, ns, web: "unix:" + sock);
            var token = await TokenAsync(d);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(sock));
            await using var proxy = new UnixForwarder(sock);
            var site = $"http://127.0.0.1:{proxy.Port}";
            using var browser = Browser(d.Root);
            var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(60));
            wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
            browser.Navigate().GoToUrl(site + "/login");
            browser.FindElement(By.Id("token")).SendKeys(token);
            browser.FindElement(By.Id("login")).Click();
            wait.Until(b => b.Url == site + "/");
            string Text(string id) => wait.Until(b => b.FindElement(By.Id(id))).Text;
            // A block swapped in by htmx: wait for the new text, then compare (a timeout shows what was there).
            void Expect(string id, string expected)
            {
                try { wait.Until(b => b.FindElements(By.Id(id)) is { Count: > 0 } l && l[0].Text == expected); }
                catch (WebDriverTimeoutException) { }
                var seen = browser.FindElements(By.Id(id)).FirstOrDefault()?.Text;
                if (seen != expected) Assert.Fail($"#{id}: expected '{expected}', saw '{seen}'. The daemon's log ends:\n{d.Log[Math.Max(0, d.Log.Length - 3000)..]}");
            }
            void Click(string id) => wait.Until(b => b.FindElement(By.Id(id))).Click();
            void Accept(string question) { Assert.Equal(question, wait.Until(ExpectedAlert)!.Text); browser.SwitchTo().Alert().Accept(); }

            // Storage: a directory pool (a relative path is refused), a volume, an ISO uploaded with progress.
            Click("nav-storage");
            browser.FindElement(By.Id("pool-name")).SendKeys("isos");
            browser.FindElement(By.Id("pool-path")).SendKeys("relative/dir");
            Click("create-pool");
            Expect("storage-error", "The pool's directory must be an absolute path, not 'relative/dir'.");
            Assert.DoesNotContain("isos", await d.OkAsync("pool-list", "--all"));
            Replace(browser.FindElement(By.Id("pool-path")), Path.Combine(d.Root, "isos"));
            Click("create-pool");
            wait.Until(b => b.FindElement(By.Id("pool-isos")).Text.Contains("active"));
            Assert.Matches(@"isos\s+active\s+yes", await d.OkAsync("pool-list", "--all"));
            browser.FindElement(By.Id("pool-name")).SendKeys("isos");
            browser.FindElement(By.Id("pool-path")).SendKeys(Path.Combine(d.Root, "other"));
            Click("create-pool");
            Expect("storage-error", "A pool named 'isos' exists already; choose another name.");

            Click("new-volume-default");
            browser.FindElement(By.Id("vol-name-default")).SendKeys("data.qcow2");
            Replace(browser.FindElement(By.Id("vol-size-default")), "big");
            Click("create-vol-default");
            Assert.Equal("Size 'big' is not a number of GiB above 0 (e.g. 10 or 0.5).", wait.Until(b => b.FindElement(By.CssSelector("#pool-default #storage-error"))).Text);
            Click("new-volume-default");
            browser.FindElement(By.Id("vol-name-default")).SendKeys("data.qcow2");
            Replace(browser.FindElement(By.Id("vol-size-default")), "0.0625");
            Click("create-vol-default");
            Expect("storage-note", "Created default/data.qcow2 (64.00 MiB).");
            Assert.Contains("data.qcow2", await d.OkAsync("vol-list", "default"));

            // 40 MiB: past Kestrel's 30 MB default body limit, so the upload must stream.
            var iso = Path.Combine(d.Root, "web.iso");
            var payload = Path.Combine(d.Root, "payload.bin");
            await File.WriteAllBytesAsync(payload, Enumerable.Range(0, 40 << 20).Select(i => (byte)(i * 7)).ToArray());
            await using (var f = File.Create(iso))
                Vireo.Host.Iso9660.Write(f, "WEBUPLOAD", [Vireo.Host.IsoFile.FromFile("payload.bin", payload)]);
            ((IJavaScriptExecutor)browser).ExecuteScript("window.vireoProgress = []; document.body.addEventListener('htmx:xhr:progress', e => { if (e.detail.total > 0) window.vireoProgress.push([e.detail.loaded, e.detail.total]); });");
            Click("upload-toggle-isos");
            browser.FindElement(By.Id("upload-file-isos")).SendKeys(iso);
            Click("upload-submit-isos");
            Expect("storage-note", $"Uploaded isos/web.iso: {new FileInfo(iso).Length / 1048576.0:0.00} MiB, an ISO image.");
            var progress = ((IReadOnlyCollection<object>)((IJavaScriptExecutor)browser).ExecuteScript("return window.vireoProgress;")!)
                .Select(p => ((IReadOnlyCollection<object>)p).Select(Convert.ToInt64).ToArray()).ToList();
            // The browser reports progress at most every 50 ms; a fast loopback upload may give just one report.
            Assert.True(progress.Count >= 1, "no progress events");
            Assert.All(progress, p => Assert.InRange(p[1], new FileInfo(iso).Length, new FileInfo(iso).Length + (1 << 16)));   // of the whole file (plus the form's framing)
            Assert.Equal(progress[^1][1], progress[^1][0]);   // the last one: everything sent
            Assert.True(progress.Zip(progress.Skip(1)).All(p => p.First[0] <= p.Second[0]), "progress went backwards");
            Assert.Equal(await File.ReadAllBytesAsync(iso), await File.ReadAllBytesAsync(Path.Combine(d.Root, "isos", "web.iso")));
            Assert.Equal("iso", browser.FindElement(By.CssSelector("#vol-isos-web\\.iso td:nth-child(2)")).Text);
            Shot(browser, "storage-upload");
            // The same name again: refused by the page before anything is sent, next to the name field ...
            Click("upload-toggle-isos");
            browser.FindElement(By.Id("upload-file-isos")).SendKeys(iso);
            Click("upload-submit-isos");
            Assert.Equal("A volume named 'web.iso' exists in this pool already; choose another name.",
                browser.FindElement(By.Id("upload-name-isos")).GetDomProperty("validationMessage"));
            Assert.Empty(browser.FindElements(By.Id("storage-error")));
            // ... and by the daemon (a name taken meanwhile, say, from another tab): after the upload is taken in.
            ((IJavaScriptExecutor)browser).ExecuteScript("document.getElementById('upload-isos').noValidate = true;");
            Click("upload-submit-isos");
            Expect("storage-error", $"Storage volume 'web.iso' already exists in pool 'isos' ({Path.Combine(d.Root, "isos", "web.iso")}).");
            Assert.Equal(await File.ReadAllBytesAsync(iso), await File.ReadAllBytesAsync(Path.Combine(d.Root, "isos", "web.iso")));

            // Networks: NAT, isolated and bridged; errors next to their field; stop and delete.
            Click("nav-networks");
            browser.FindElement(By.Id("net-name")).SendKeys("natnet");
            Replace(browser.FindElement(By.Id("net-ipv4")), "10.77.0.1");
            Click("create-net");
            Assert.Equal("'10.77.0.1' is not a host address with a prefix; write it as 192.168.150.1/24 (the host's address on the network, prefix 8 to 30).",
                wait.Until(b => b.FindElement(By.CssSelector(".field-error[data-field='ipv4']"))).Text);
            Replace(browser.FindElement(By.Id("net-ipv4")), "10.77.0.1/24");
            Click("create-net");
            wait.Until(b => b.FindElement(By.Id("net-natnet")).Text.Contains("active"));
            Assert.Contains("10.77.0.1/24", await ns.ExecOkAsync("ip", "-4", "addr"));
            Assert.Contains("<range start='10.77.0.2' end='10.77.0.254'/>", await d.OkAsync("net-dumpxml", "natnet"));
            Assert.Matches(@"natnet\s+active\s+yes", await d.OkAsync("net-list"));
            browser.FindElement(By.Id("net-name")).SendKeys("natnet");
            Click("create-net");
            Assert.Equal("A network named 'natnet' exists already; choose another name.", wait.Until(b => b.FindElement(By.CssSelector(".field-error[data-field='name']"))).Text);
            Replace(browser.FindElement(By.Id("net-name")), "hostonly");
            Choose(browser, "net-mode", "isolated");
            Replace(browser.FindElement(By.Id("net-ipv4")), "10.78.0.1/24");
            Click("create-net");
            wait.Until(b => b.FindElement(By.Id("net-hostonly")).Text.Contains("active"));
            await ns.ExecOkAsync("ip", "link", "add", "brt0", "type", "bridge");
            browser.FindElement(By.Id("net-name")).SendKeys("brnet");
            Choose(browser, "net-mode", "bridge");
            Click("create-net");
            Assert.StartsWith("Name the host bridge the guests join", wait.Until(b => b.FindElement(By.CssSelector(".field-error[data-field='bridge']"))).Text);
            browser.FindElement(By.Id("net-bridge")).SendKeys("brt0");
            Click("create-net");
            wait.Until(b => b.FindElement(By.Id("net-brnet")).Text.Contains("active"));
            Assert.Contains("<bridge name='brt0'/>", await d.OkAsync("net-dumpxml", "brnet"));
            Shot(browser, "networks");
            Click("stop-net-hostonly");
            wait.Until(b => b.FindElement(By.Id("net-hostonly")).Text.Contains("inactive"));
            Click("delete-net-hostonly");
            Accept("Delete the network 'hostonly'?");
            wait.Until(b => b.FindElements(By.Id("net-hostonly")).Count == 0);
            Assert.DoesNotContain("hostonly", await d.OkAsync("net-list", "--all"));

            // A running machine with an empty CD-ROM drive and the test guest's agent.
            var agentPath = Path.Combine(d.Root, "dev1.agent");
            await d.DefineAsync(d.GuestXml("dev1", cmdlineExtra: "vireo.agent", devices: $"""
                <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
                {GuestAgent.Device(agentPath)}
                """));
            await d.OkAsync("start", "dev1");
            await d.WaitForSerialAsync("dev1", "VIREO-GUEST-READY");
            using var agent = new GuestAgent(agentPath);
            browser.Navigate().GoToUrl(site + "/vm/dev1");
            wait.Until(b => b.FindElement(By.Id("state")).Text == "running");

            // CD-ROM: insert the uploaded ISO (the guest reads its label), then eject it.
            var isoPath = Path.Combine(d.Root, "isos", "web.iso");
            Choose(browser, "media-hdc", isoPath);
            Click("insert-hdc");
            Expect("devices-note", "Inserted web.iso into hdc.");
            Assert.Equal("WEBUPLOAD", (await agent.UntilAsync("dd if=/dev/sr0 bs=1 skip=32808 count=9 2>/dev/null", "WEBUPLOAD")).Trim());
            Assert.Matches($@"hdc\s+{System.Text.RegularExpressions.Regex.Escape(isoPath)}", await d.OkAsync("domblklist", "dev1"));
            Assert.Contains(isoPath, await d.OkAsync("dumpxml", "dev1", "--inactive"));
            Click("eject-hdc");
            Expect("devices-note", "Ejected the medium from hdc.");
            Assert.Matches(@"hdc\s+-", await d.OkAsync("domblklist", "dev1"));

            // Disks: a new volume and an existing one, in the guest and its definition; a bad size is named.
            Click("add-disk-toggle");
            Choose(browser, "disk-kind", "new");
            Replace(browser.FindElement(By.Id("disk-size")), "-1");
            Click("add-disk-submit");
            Expect("devices-error", "Size '-1' is not a number of GiB above 0 (e.g. 10 or 0.5).");
            Assert.True(browser.FindElement(By.Id("add-disk")).Displayed);   // the form stays open to correct it
            Replace(browser.FindElement(By.Id("disk-size")), "0.0625");
            Click("add-disk-submit");
            Expect("devices-note", "Added a new 64.00 MiB volume default/dev1-vda.qcow2 at vda.");
            Assert.Equal("131072", (await agent.UntilAsync("cat /sys/block/vda/size", "131072")).Trim());
            Assert.Contains("volume='dev1-vda.qcow2'", await d.OkAsync("dumpxml", "dev1", "--inactive"));
            Click("add-disk-toggle");
            Choose(browser, "disk-kind", "existing");
            Choose(browser, "disk-volume", "default/data.qcow2");
            Click("add-disk-submit");
            Expect("devices-note", "Added default/data.qcow2 at vdb.");
            Assert.Equal("131072", (await agent.UntilAsync("cat /sys/block/vdb/size", "131072")).Trim());
            Click("remove-vdb");
            Accept("Remove disk vdb from 'dev1'? The image file stays.");
            wait.Until(b => b.FindElement(By.Id("devices-note")).Text.StartsWith("Removed disk vdb"));
            Assert.Equal("gone", (await agent.UntilAsync("[ -e /sys/block/vdb ] && echo present || echo gone", "gone")).Trim());
            Assert.DoesNotContain("data.qcow2", await d.OkAsync("dumpxml", "dev1", "--inactive"));
            Assert.True(File.Exists(Path.Combine(d.Images, "data.qcow2")));

            // NICs: one on the NAT network, in the guest and the definition; a bad MAC is named; then removed.
            Click("add-nic-toggle");
            Choose(browser, "nic-source", "network:natnet");
            browser.FindElement(By.Id("nic-mac")).SendKeys("zz");
            Click("add-nic-submit");
            Expect("devices-error", "Malformed MAC address 'zz'; write it as 52:54:00:xx:xx:xx.");
            Replace(browser.FindElement(By.Id("nic-mac")), "52:54:00:aa:bb:01");
            Click("add-nic-submit");
            Expect("devices-note", "Added a virtio interface 52:54:00:aa:bb:01.");
            var iflist = await d.OkAsync("domiflist", "dev1");
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(iflist, @"network\s+natnet\s+virtio\s+52:54:00:aa:bb:01"), iflist);
            Assert.Contains("52:54:00:aa:bb:01", await agent.RunAsync("cat /sys/class/net/*/address"));
            Assert.Contains("52:54:00:aa:bb:01", await d.OkAsync("dumpxml", "dev1", "--inactive"));
            Shot(browser, "vm-devices");
            Click("remove-nic-52-54-00-aa-bb-01");
            Accept("Remove the network interface 52:54:00:aa:bb:01 from 'dev1'?");
            Expect("devices-note", "Removed the interface 52:54:00:aa:bb:01.");
            Assert.DoesNotContain("52:54:00:aa:bb:01", await d.OkAsync("domiflist", "dev1"));

            // Snapshots: take one, change the disk, take another by keyboard alone, revert to the first, delete the second.
            await agent.RunAsync("printf SNAP-ONE | dd of=/dev/vda bs=1 seek=512 conv=fsync 2>/dev/null");
            browser.FindElement(By.Id("snap-name")).SendKeys("s-one");
            Click("take-snapshot");
            Expect("snapshots-note", "Took snapshot 's-one'.");
            await agent.RunAsync("printf SNAP-TWO | dd of=/dev/vda bs=1 seek=512 conv=fsync 2>/dev/null");
            // Keyboard only: Tab from the snapshot name field to the button, Enter.
            browser.FindElement(By.Id("snap-name")).SendKeys("kbd" + Keys.Tab + "typed, not clicked" + Keys.Tab);
            Assert.Equal("take-snapshot", ((IJavaScriptExecutor)browser).ExecuteScript("return document.activeElement.id;"));
            browser.SwitchTo().ActiveElement().SendKeys(Keys.Enter);
            Expect("snapshots-note", "Took snapshot 'kbd'.");
            Assert.Contains("typed, not clicked", Text("snap-kbd"));
            Click("revert-s-one");
            Accept("Revert 'dev1' to snapshot 's-one'? Everything since it was taken is lost.");
            Expect("snapshots-note", "Reverted to 's-one'.");
            Assert.Equal("SNAP-ONE", (await agent.RunAsync("dd if=/dev/vda bs=1 skip=512 count=8 2>/dev/null")).Trim());
            Assert.Contains("current", Text("snap-s-one"));
            Click("delete-snap-kbd");
            Accept("Delete snapshot 'kbd' of 'dev1'?");
            Expect("snapshots-note", "Deleted snapshot 'kbd'.");
            Assert.DoesNotContain("kbd", await d.OkAsync("snapshot-list", "dev1", "--name"));

            // Changes made elsewhere (here the CLI) show up on the open page without a reload.
            ((IJavaScriptExecutor)browser).ExecuteScript("window.vireoNoReload = 1;");
            await d.OkAsync("snapshot-create-as", "dev1", "from-cli", "made by the cli");
            Assert.Contains("made by the cli", wait.Until(b => b.FindElements(By.Id("snap-from-cli")) is { Count: 1 } l ? l[0] : null)!.Text);
            await d.OkAsync("snapshot-delete", "dev1", "from-cli");
            wait.Until(b => b.FindElements(By.Id("snap-from-cli")).Count == 0);
            await d.OkAsync("attach-interface", "dev1", "network", "natnet", "--mac", "52:54:00:aa:bb:02", "--live");
            wait.Until(b => b.FindElements(By.Id("nic-52-54-00-aa-bb-02")).Count == 1);
            await d.OkAsync("detach-interface", "dev1", "network", "--mac", "52:54:00:aa:bb:02", "--live");
            wait.Until(b => b.FindElements(By.Id("nic-52-54-00-aa-bb-02")).Count == 0);
            await d.OkAsync("change-media", "dev1", "hdc", isoPath, "--insert");
            wait.Until(b => b.FindElement(By.Id("disk-hdc")).Text.Contains(isoPath));
            await d.OkAsync("change-media", "dev1", "hdc", "--eject");
            wait.Until(b => b.FindElement(By.Id("disk-hdc")).Text.Contains("(empty)"));
            Assert.False(browser.FindElement(By.Id("autostart")).Selected);
            await d.OkAsync("autostart", "dev1");
            wait.Until(b => b.FindElement(By.Id("autostart")).Selected);
            Assert.Equal(1L, ((IJavaScriptExecutor)browser).ExecuteScript("return window.vireoNoReload;"));

            // Display: VNC on a listen address (a bad one is named), kept for the next start.
            Choose(browser, "graphics-type", "vnc");
            Replace(browser.FindElement(By.Id("graphics-listen")), "everywhere");
            Click("graphics-save");
            Expect("graphics-error", "Listen address 'everywhere' is not an IP address; use 127.0.0.1 (this host only) or 0.0.0.0 (every network).");
            Replace(browser.FindElement(By.Id("graphics-listen")), "127.0.0.1");
            Click("graphics-save");
            Expect("graphics-note", "VNC on 127.0.0.1. The running machine gets it at its next start.");
            Assert.Contains("<graphics type='vnc'", await d.OkAsync("dumpxml", "dev1", "--inactive"));
            Assert.DoesNotContain("<graphics", await d.OkAsync("dumpxml", "dev1"));
            Shot(browser, "vm-snapshots");

            // The volume the guest let go of is deleted from the storage page (after a question).
            Click("nav-storage");
            Click("delete-vol-default-data.qcow2");
            Accept("Delete the volume 'data.qcow2'? Its data is gone for good.");
            Expect("storage-note", "Deleted default/data.qcow2.");
            Assert.DoesNotContain("data.qcow2", await d.OkAsync("vol-list", "default"));
            Assert.False(File.Exists(Path.Combine(d.Images, "data.qcow2")));

            // Phone width: no page needs sideways scrolling; tables scroll inside their own box.
            browser.Manage().Window.Size = new System.Drawing.Size(390, 844);
            foreach (var (page, shot) in new[] { ("/", "phone-overview"), ("/vm/dev1", "phone-vm"), ("/new", "phone-new"), ("/networks", "phone-networks"), ("/storage", "phone-storage") })
            {
                browser.Navigate().GoToUrl(site + page);
                wait.Until(b => ((IJavaScriptExecutor)b).ExecuteScript("return document.readyState;") as string == "complete");
                var (inner, scroll) = (Convert.ToInt64(((IJavaScriptExecutor)browser).ExecuteScript("return window.innerWidth;")),
                    Convert.ToInt64(((IJavaScriptExecutor)browser).ExecuteScript("return document.documentElement.scrollWidth;")));
                Assert.True(inner <= 420, $"the window is {inner} px wide");
                var wide = ((IJavaScriptExecutor)browser).ExecuteScript("""
                    return [...document.querySelectorAll('body *')].filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
                      .slice(0, 6).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ');
                    """);
                Assert.True(scroll <= inner, $"{page} is {scroll} px wide in a {inner} px window: {wide}");
                Shot(browser, shot);
            }

            var errors = browser.Manage().Logs.GetLog(LogType.Browser).Where(e => e.Level >= OpenQA.Selenium.LogLevel.Severe).ToList();
            Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
        }
        finally { sockDir.Delete(recursive: true); }
    }

    [Fact]
    public async Task Every_page_sends_its_security_headers_and_wrong_logins_are_throttled_per_client()
    {
        var port = FreePort();
        await using var d = await TestDaemon.StartAsync(fx, web: $"127.0.0.1:{port}");
        var token = await TokenAsync(d);
        await d.DefineAsync(d.GuestXml("hdr"));
        var site = $"http://127.0.0.1:{port}";
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri(site) };

        async Task<HttpResponseMessage> Login(string secret)
        {
            var form = await http.GetStringAsync("/login");
            var csrf = System.Text.RegularExpressions.Regex.Match(form, "name=\"__csrf\" value=\"([^\"]+)\"").Groups[1].Value;
            return await http.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["__csrf"] = csrf, ["token"] = secret }));
        }
        static void Headers(HttpResponseMessage r, string what)
        {
            string H(string name) => r.Headers.TryGetValues(name, out var v) ? string.Join(",", v) : "";
            Assert.True(H("Content-Security-Policy").Contains("frame-ancestors 'none'") && H("Content-Security-Policy").Contains("default-src 'self'"), $"{what}: CSP '{H("Content-Security-Policy")}'");
            Assert.Equal("DENY", H("X-Frame-Options"));
            Assert.Equal("nosniff", H("X-Content-Type-Options"));
            Assert.Equal("same-origin", H("Referrer-Policy"));
        }

        // A right login, then the headers on the pages it reaches (and on a refusal and a static file).
        var ok = await Login(token);
        Assert.Equal(HttpStatusCode.Redirect, ok.StatusCode);
        foreach (var page in new[] { "/", "/vm/hdr", "/new", "/networks", "/storage", "/vm/hdr/console", "/vm/nobody", "/login" })
            Headers(await http.GetAsync(page), page);
        var asset = System.Text.RegularExpressions.Regex.Match(await http.GetStringAsync("/"), "src=\"(/[^\"]+\\.js)\"").Groups[1].Value;
        Assert.NotEmpty(asset);
        Headers(await http.GetAsync(asset), asset);

        // Wrong logins from one address: five are answered, the sixth (even a right one) waits a minute.
        for (int i = 0; i < 5; i++)
        {
            var wrong = await Login("not-the-token-" + i);
            Assert.Equal(HttpStatusCode.OK, wrong.StatusCode);
            Assert.Contains("That token or password is not right.", await wrong.Content.ReadAsStringAsync());
        }
        var refused = await Login(token);
        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Headers(refused, "429");
        var wait = refused.Headers.RetryAfter?.Delta;
        Assert.True(wait > TimeSpan.Zero && wait <= TimeSpan.FromMinutes(1), $"Retry-After {wait}");
        Assert.Matches("Too many wrong logins from this address: try again in [0-9]+ s\\.", await refused.Content.ReadAsStringAsync());
        Assert.Equal(5, System.Text.RegularExpressions.Regex.Matches(d.Log, "a login with a wrong token or password from 127.0.0.1").Count);
    }

    /// <summary>The console's first-start token, from the daemon's log (it starts right after the API).</summary>
    private static async Task<string> TokenAsync(TestDaemon d)
    {
        var token = "";
        for (var sw = System.Diagnostics.Stopwatch.StartNew(); token.Length == 0 && sw.Elapsed.TotalSeconds < 30; await Task.Delay(50))
            token = System.Text.RegularExpressions.Regex.Match(d.Log, @"login token \(shown once.*\): ([a-z0-9]{24})").Groups[1].Value;
        Assert.Equal(24, token.Length);
        return token;
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

    internal static ChromeDriver Browser(string root)
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
