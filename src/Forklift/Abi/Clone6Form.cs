namespace Forklift.Abi;

/// <summary>
/// The experimental <c>clone6</c> form (a 2019 proposal, never merged): a <c>clone_args</c> struct plus five
/// 32-bit flag words. Flags come from word 1 only; words 2 to 5 were reserved for flags beyond bit 31 and must be
/// zero (R-X1); the struct's own flags field is not read (it is written as zero). Encoding and decoding here are
/// Forklift's reading of the proposal, kept so policies written for it can be checked against the model.
/// </summary>
/// <param name="Struct">The struct bytes (as <see cref="Clone3Struct"/>, any size).</param>
/// <param name="FlagWords">The five flag words; word 1 is element 0.</param>
public sealed record Clone6Form(byte[] Struct, uint[] FlagWords)
{
    /// <summary>Number of flag words.</summary>
    public const int WordCount = 5;

    /// <summary>Encodes a clone6 call. Flags above bit 31 cannot be expressed (they would need word 2).</summary>
    /// <exception cref="ArgumentException">The call is not clone6, or has flags above bit 31.</exception>
    public static Clone6Form Encode(in CloneCall call)
    {
        if (call.Entry != CloneEntry.Clone6)
        {
            throw new ArgumentException("not a clone6 call", nameof(call));
        }
        ulong flags = (ulong)call.Args.Flags;
        if ((flags >> 32) != 0)
        {
            throw new ArgumentException("clone6 carries flags in 32-bit word 1; flags above bit 31 would need the reserved word 2", nameof(call));
        }
        var bytes = Clone3Struct.Encode(call.Args with { Flags = CloneFlags.None }, (int)call.Size);
        // The upper words are reported ORed together by CloneCall; encode them into word 2 so a round trip keeps them.
        return new Clone6Form(bytes, [(uint)flags, call.Clone6UpperWords, 0, 0, 0]);
    }

    /// <summary>
    /// Decodes struct bytes and flag words into a clone6 call (the struct is read as the kernel reads clone_args:
    /// E2BIG/EINVAL come back as the errno, with no call).
    /// </summary>
    public static Errno Decode(ReadOnlySpan<byte> structBytes, ReadOnlySpan<uint> words, out CloneCall call)
    {
        call = default;
        if (words.Length != WordCount)
        {
            return Errno.EINVAL;
        }
        var errno = Clone3Struct.Decode(structBytes, out var args);
        if (errno != Errno.None)
        {
            return errno;
        }
        uint upper = words[1] | words[2] | words[3] | words[4];
        call = CloneCall.Clone6(args with { Flags = (CloneFlags)words[0] }, (ulong)structBytes.Length, upper);
        return Errno.None;
    }
}
