using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Forklift.Abi;
using Forklift.Rules;

namespace Forklift.Cli.Explain;

/// <summary>
/// Writes an <see cref="ExplainResult"/>: as text (the call, the verdict, the rule and its reason, a table of
/// effects; ANSI colour only when asked) or as one JSON object written with <see cref="Utf8JsonWriter"/> (no
/// reflection, so the command stays trimmable). The JSON keys are a contract: <c>allowed</c>, <c>errno</c>,
/// <c>rule</c>, <c>reason</c>, <c>effects</c>, and with <c>--verify</c> <c>kernel</c> and <c>agree</c>.
/// </summary>
internal static class ExplainOutput
{
    // ---------------------------------------------------------------------------------------------------------
    // Text.

    /// <summary>Writes the human-readable answer.</summary>
    public static void WriteText(ExplainResult result, TextWriter output, bool colour)
    {
        var paint = new Paint(colour);
        var verdict = result.Verdict;
        var sb = new StringBuilder(2048);
        sb.Append(paint.Bold(DescribeCall(result.Request.Call, result.Request.Cgroup?.ToString())))
          .Append(" on Linux ").Append(result.Context.Kernel.ToString()).Append('\n');
        sb.Append("caller:  ").Append(DescribeCaller(result.Context));
        if (result.Caller is not null)
        {
            sb.Append(" (made real as: ").Append(result.Caller).Append(')');
        }
        sb.Append('\n');
        foreach (var note in result.Request.Notes)
        {
            sb.Append("note:    ").Append(note).Append('\n');
        }

        if (verdict.Rule is { } rule)
        {
            sb.Append("verdict: ").Append(paint.Red($"refused, {ErrnoInfo.Name(rule.Errno)} ({ErrnoInfo.Message(rule.Errno)})")).Append('\n');
            sb.Append("rule:    ").Append(paint.Bold(rule.Name)).Append(" in ").Append(rule.KernelFunction)
              .Append(": ").Append(rule.Condition).Append(" (since ").Append(rule.Since).Append(")\n");
            sb.Append("reason:  ").Append(verdict.Explain()).Append('\n');
        }
        else
        {
            sb.Append("verdict: ").Append(paint.Green("allowed")).Append('\n');
        }

        if (result.Kernel is { } answer)
        {
            sb.Append("kernel:  ");
            if (answer.SetupFailed)
            {
                sb.Append(paint.Yellow("not verified: " + (answer.Note ?? "the caller could not be set up"))).Append('\n');
            }
            else if (answer.Agrees(verdict))
            {
                sb.Append(answer.Spelling).Append(", as the model says");
                if (answer.Note is not null)
                {
                    sb.Append(" (").Append(answer.Note).Append(')');
                }
                sb.Append('\n');
            }
            else
            {
                string model = verdict.Rule is { } r ? $"{ExplainCommand.Spell(verdict)} by {r.Name}" : "allowed";
                sb.Append(paint.Alarm($"*** DISAGREEMENT: the live kernel says {answer.Spelling}, the model says {model} ***"));
                if (answer.Note is not null)
                {
                    sb.Append(" (").Append(answer.Note).Append(')');
                }
                sb.Append('\n');
            }
        }

        if (!verdict.Allowed)
        {
            sb.Append("effects: none, no child is created\n");
        }
        else
        {
            int width = "resource".Length;
            int effectWidth = "effect".Length;
            foreach (var e in result.Effects)
            {
                width = Math.Max(width, e.Resource.Length);
                effectWidth = Math.Max(effectWidth, EffectName(e.Effect).Length);
            }
            sb.Append('\n').Append("  ").Append(paint.Bold("resource".PadRight(width))).Append("  ")
              .Append(paint.Bold("effect".PadRight(effectWidth))).Append("  ").Append(paint.Bold("detail")).Append('\n');
            foreach (var e in result.Effects)
            {
                string name = EffectName(e.Effect);
                sb.Append("  ").Append(e.Resource.PadRight(width)).Append("  ")
                  .Append(paint.Effect(e.Effect, name.PadRight(effectWidth))).Append("  ").Append(e.Detail).Append('\n');
            }
        }
        output.Write(sb.ToString());
    }

    /// <summary>The call in C-like form, e.g. <c>clone3(flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, size=88)</c>.</summary>
    public static string DescribeCall(in CloneCall call, string? cgroup)
    {
        var a = call.Args;
        var parts = new List<string>();
        switch (call.Entry)
        {
            case CloneEntry.Fork:
                return "fork()";
            case CloneEntry.Vfork:
                return "vfork()";
            case CloneEntry.Clone:
                parts.Add($"flags=0x{call.RawFlags:x} ({CloneFlagNames.Format(a.Flags)}, exit signal {Signals.Name((long)a.ExitSignal)})");
                if (a.Stack != 0) parts.Add($"newsp=0x{a.Stack:x}");
                if (a.ParentTid != 0) parts.Add("parent_tid=" + PointerText(a.ParentTid, UserPointer.ParentTidField));
                if (a.ChildTid != 0) parts.Add("child_tid=" + PointerText(a.ChildTid, UserPointer.ChildTidField));
                if (a.Tls != 0) parts.Add($"tls=0x{a.Tls:x}");
                return "clone(" + string.Join(", ", parts) + ")";
        }
        parts.Add("flags=" + CloneFlagNames.Format(a.Flags));
        parts.Add("exit_signal=" + SignalText(a.ExitSignal));
        parts.Add("size=" + ArgText.Decimal(call.Size));
        if (call.ArgsPointer != UserPointer.Valid(UserPointer.ArgsField)) parts.Add("args=" + PointerText(call.ArgsPointer, UserPointer.ArgsField));
        if (call.ReadableBytes is uint readable) parts.Add("readable=" + readable.ToString(CultureInfo.InvariantCulture));
        if (call.TailNonZeroAt != 0) parts.Add("tail_nonzero_at=" + call.TailNonZeroAt.ToString(CultureInfo.InvariantCulture));
        if (a.Pidfd != 0) parts.Add("pidfd=" + (a.Pidfd == a.ParentTid ? "parent_tid" : PointerText(a.Pidfd, UserPointer.PidfdField)));
        if (a.ParentTid != 0) parts.Add("parent_tid=" + PointerText(a.ParentTid, UserPointer.ParentTidField));
        if (a.ChildTid != 0) parts.Add("child_tid=" + PointerText(a.ChildTid, UserPointer.ChildTidField));
        if (a.Stack != 0 || a.StackSize != 0) parts.Add($"stack=0x{a.Stack:x}, stack_size=0x{a.StackSize:x}");
        if (a.Tls != 0) parts.Add($"tls=0x{a.Tls:x}");
        if (a.SetTid != 0 || a.SetTidSize != 0)
        {
            string values = a.SetTidValues.IsDefaultOrEmpty ? "" : " {" + string.Join(',', a.SetTidValues) + "}";
            parts.Add("set_tid=" + PointerText(a.SetTid, UserPointer.SetTidField) + values + ", set_tid_size=" + ArgText.Decimal(a.SetTidSize));
        }
        if (a.Cgroup != 0 || cgroup is not null) parts.Add("cgroup=" + ArgText.Decimal(a.Cgroup) + (cgroup is null ? "" : $" ({cgroup})"));
        return (call.Entry == CloneEntry.Clone6 ? "clone6(" : "clone3(") + string.Join(", ", parts) + ")";
    }

    private static string PointerText(ulong address, int field) =>
        address == 0 ? "null"
        : address == UserPointer.Valid(field) ? "valid"
        : address == UserPointer.Bad(field) ? "bad"
        : $"0x{address:x}";

    private static string SignalText(ulong signal) =>
        signal <= Signals.Max ? Signals.Name((long)signal) : "0x" + signal.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>The notable facts about a caller, e.g. <c>uid 1000, no capabilities, user ns level 0</c>.</summary>
    public static string DescribeCaller(CallerContext c)
    {
        var parts = new List<string>
        {
            "uid " + c.Uid.ToString(CultureInfo.InvariantCulture) + (c.IsGlobalRoot ? " (global root)" : ""),
            CapabilitiesText(c.Capabilities),
            "user ns level " + c.UserNsLevel.ToString(CultureInfo.InvariantCulture) + (c.UidMapped ? "" : " (uid unmapped)"),
            "pid ns level " + c.PidNsLevel.ToString(CultureInfo.InvariantCulture) + (c.IsPidNsInit ? " (init)" : ""),
        };
        if (c.PidNsForChildrenInitExited) parts.Add("pid ns for children: init exited");
        else if (c.PidNsForChildrenUnshared) parts.Add("pid ns unshared for children");
        if (c.TimeNsForChildrenUnshared) parts.Add("time ns unshared for children");
        if (c.Chrooted) parts.Add("chrooted");
        if (c.ChildSubreaper) parts.Add("subreaper");
        if (c.RlimitNproc != ulong.MaxValue) parts.Add("RLIMIT_NPROC " + c.RlimitNproc.ToString(CultureInfo.InvariantCulture));
        if (c.SchedDeadline) parts.Add("SCHED_DEADLINE");
        for (int t = 0; t < NamespaceTypes.Count; t++)
        {
            if (!c.NamespaceLimits.IsDefaultOrEmpty && t < c.NamespaceLimits.Length && c.NamespaceLimits[t] < 1000)
            {
                parts.Add($"max_{NamespaceTypes.Name((NamespaceType)t)}_namespaces {c.NamespaceLimits[t]}");
            }
        }
        return string.Join(", ", parts);
    }

    // Short either way: "all capabilities", "no capabilities", "capabilities CAP_A,CAP_B", or for a set with
    // most of them "all capabilities except CAP_SYS_RESOURCE".
    private static string CapabilitiesText(ulong caps)
    {
        ulong known = caps & Capabilities.All;
        if (known == Capabilities.All)
        {
            return "all capabilities";
        }
        if (known == 0)
        {
            return "no capabilities";
        }
        return System.Numerics.BitOperations.PopCount(known) > (Capabilities.Last + 1) / 2
            ? "all capabilities except " + Capabilities.Format(Capabilities.All & ~known)
            : "capabilities " + Capabilities.Format(known);
    }

    /// <summary>The stable lower-case name of an effect (JSON values and the table).</summary>
    public static string EffectName(Effect effect) => effect switch
    {
        Effect.None => "none",
        Effect.Shared => "shared",
        Effect.Copied => "copied",
        Effect.New => "new",
        Effect.Reset => "reset",
        Effect.Written => "written",
        Effect.Joined => "joined",
        Effect.Set => "set",
        Effect.Inherited => "inherited",
        Effect.Entered => "entered",
        _ => ((int)effect).ToString(CultureInfo.InvariantCulture),
    };

    private readonly struct Paint(bool on)
    {
        private string Wrap(string code, string text) => on ? $"\u001b[{code}m{text}\u001b[0m" : text;

        public string Bold(string text) => Wrap("1", text);
        public string Red(string text) => Wrap("1;31", text);
        public string Green(string text) => Wrap("1;32", text);
        public string Yellow(string text) => Wrap("1;33", text);
        public string Alarm(string text) => Wrap("1;97;41", text);

        public string Effect(Effect effect, string text) => effect switch
        {
            Rules.Effect.Shared or Rules.Effect.Joined => Wrap("33", text),
            Rules.Effect.New or Rules.Effect.Entered or Rules.Effect.Reset => Wrap("36", text),
            Rules.Effect.Written or Rules.Effect.Set => Wrap("35", text),
            Rules.Effect.None or Rules.Effect.Inherited => Wrap("2", text),
            _ => text,
        };
    }

    // ---------------------------------------------------------------------------------------------------------
    // JSON.

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // The output is read in terminals and by JSON parsers, never embedded in HTML: keep '+' (SIGRTMIN+2),
        // '&&' in conditions and quotes readable instead of \u002B, \u0026.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes one JSON object on one line.</summary>
    public static void WriteJson(ExplainResult result, TextWriter output)
    {
        var buffer = new ArrayBufferWriter<byte>(2048);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteJson(result, w);
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private static void WriteJson(ExplainResult result, Utf8JsonWriter w)
    {
        var call = result.Request.Call;
        var a = call.Args;
        var verdict = result.Verdict;
        w.WriteStartObject();

        // The contract's keys first.
        w.WriteBoolean("allowed", verdict.Allowed);
        if (verdict.Rule is { } rule)
        {
            w.WriteString("errno", ErrnoInfo.Name(rule.Errno));
            w.WriteString("rule", rule.Name);
        }
        else
        {
            w.WriteNull("errno");
            w.WriteNull("rule");
        }
        w.WriteString("reason", verdict.Allowed ? "no rule refuses this call" : verdict.Explain());
        w.WriteStartObject("effects");
        foreach (var e in result.Effects)
        {
            w.WriteStartObject(e.Resource);
            w.WriteString("effect", EffectName(e.Effect));
            w.WriteString("detail", e.Detail);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        if (result.Kernel is { } answer)
        {
            w.WriteString("kernel", answer.Spelling);
            if (result.Agrees is bool agree)
            {
                w.WriteBoolean("agree", agree);
            }
            else
            {
                w.WriteNull("agree");
            }
            if (answer.Note is null)
            {
                w.WriteNull("kernel_note");
            }
            else
            {
                w.WriteString("kernel_note", answer.Note);
            }
            w.WriteString("verified_caller", result.Caller);
        }

        // More about the verdict.
        if (verdict.Rule is { } r)
        {
            w.WriteString("errno_message", ErrnoInfo.Message(r.Errno));
            w.WriteString("kernel_function", r.KernelFunction);
            w.WriteString("condition", r.Condition);
            w.WriteString("since", r.Since);
        }

        // The call as the kernel receives it.
        w.WriteString("call", call.Entry switch
        {
            CloneEntry.Clone => "clone",
            CloneEntry.Fork => "fork",
            CloneEntry.Vfork => "vfork",
            CloneEntry.Clone6 => "clone6",
            _ => "clone3",
        });
        w.WriteString("flags", CloneFlagNames.Format(a.Flags));
        w.WriteString("flags_value", Hex((ulong)a.Flags));
        if (call.Entry == CloneEntry.Clone)
        {
            w.WriteString("raw_flags", Hex(call.RawFlags));
        }
        w.WriteString("exit_signal", SignalText(a.ExitSignal));
        w.WriteNumber("exit_signal_number", a.ExitSignal);
        if (call.HasStruct)
        {
            w.WriteNumber("size", call.Size);
            w.WriteString("args_pointer", Hex(call.ArgsPointer));
        }
        w.WriteString("pidfd", Hex(a.Pidfd));
        w.WriteString("parent_tid", Hex(a.ParentTid));
        w.WriteString("child_tid", Hex(a.ChildTid));
        w.WriteString("stack", Hex(a.Stack));
        w.WriteNumber("stack_size", a.StackSize);
        w.WriteString("tls", Hex(a.Tls));
        if (call.HasStruct)
        {
            w.WriteString("set_tid", Hex(a.SetTid));
            w.WriteNumber("set_tid_size", a.SetTidSize);
            w.WriteStartArray("set_tid_values");
            if (!a.SetTidValues.IsDefaultOrEmpty)
            {
                foreach (int pid in a.SetTidValues)
                {
                    w.WriteNumberValue(pid);
                }
            }
            w.WriteEndArray();
            w.WriteNumber("cgroup", a.Cgroup);
            if (result.Request.Cgroup is { } cg)
            {
                w.WriteString("cgroup_target", cg.ToString());
            }
        }
        w.WriteStartArray("notes");
        foreach (var note in result.Request.Notes)
        {
            w.WriteStringValue(note);
        }
        w.WriteEndArray();

        // The caller the model judged.
        var c = result.Context;
        w.WriteString("kernel_version", c.Kernel.ToString());
        w.WriteStartObject("caller");
        w.WriteNumber("uid", c.Uid);
        w.WriteBoolean("global_root", c.IsGlobalRoot);
        w.WriteString("capabilities", Capabilities.Format(c.Capabilities));
        w.WriteString("capabilities_value", Hex(c.Capabilities));
        w.WriteNumber("userns_level", c.UserNsLevel);
        w.WriteBoolean("uid_mapped", c.UidMapped);
        w.WriteNumber("pid_ns_level", c.PidNsLevel);
        w.WriteBoolean("pid_ns_init", c.IsPidNsInit);
        w.WriteBoolean("pid_ns_for_children_unshared", c.PidNsForChildrenUnshared);
        w.WriteBoolean("pid_ns_for_children_init_exited", c.PidNsForChildrenInitExited);
        w.WriteBoolean("time_ns_for_children_unshared", c.TimeNsForChildrenUnshared);
        w.WriteBoolean("chrooted", c.Chrooted);
        w.WriteBoolean("subreaper", c.ChildSubreaper);
        if (c.RlimitNproc == ulong.MaxValue)
        {
            w.WriteString("rlimit_nproc", "unlimited");
        }
        else
        {
            w.WriteNumber("rlimit_nproc", c.RlimitNproc);
        }
        w.WriteBoolean("sched_deadline", c.SchedDeadline);
        w.WriteEndObject();

        w.WriteEndObject();
    }

    private static string Hex(ulong value) => "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
