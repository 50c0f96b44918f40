require "imap4flags";
require "fileinto";
if header :is "X-Spam" "Yes" { fileinto "Junk"; }
if header :contains "Subject" "invoice" { fileinto "Bills"; stop; }
if header :contains "List-Id" "announce" { addflag "\\Seen"; }
if header :contains "From" "\"spammer\\\" <x@y>" { discard; stop; }
