"""Templates per language: fact posts, bios, comments, chatter, QA phrasings, general texts.

Placeholders are the keys of `people.render_facts` ({city}, {phone}, ...) plus {handle} in
comments. Every fact template names its fact's own placeholder, so the value ends up in the
text; the generator records a pii span for every filled placeholder. Pure data.
"""

FACTS = ("city", "street_address", "phone", "email", "birthday", "employer", "job", "partner",
         "pet_name", "health")

POST = {"en": {
    "city": ["Still can't believe how much I love living in {city}.", "Rainy Sunday in {city} again, classic.",
             "Anyone know a good dentist in {city}? Asking for me.", "Five years in {city} this month and no plans to leave."],
    "street_address": ["Finally moved into our flat at {street_address} in {city}!",
                       "New address for the Christmas cards: {street_address}, {city}.",
                       "The roadworks outside {street_address} ({city}) start at 7 am every single day.",
                       "Housewarming on Saturday at {street_address}, {city}. Bring snacks!"],
    "phone": ["New phone, same me. My number is now {phone}, text me!",
              "Lost all my contacts, please message me on {phone}.",
              "If the doorbell is broken again just call {phone}.",
              "Selling my old bike, call or text {phone} if interested."],
    "email": ["Best way to reach me these days is {email}.", "Changed my email, it's {email} now.",
              "Send the holiday photos to {email} please!", "For the book club list: {email}."],
    "birthday": ["Born on {birthday} and still no idea what I'm doing.",
                 "Reminder to all my friends: my birthday is {birthday}, cake is mandatory.",
                 "My passport says {birthday}, my knees say a lot older.",
                 "Filled in yet another form with {birthday} as my date of birth today."],
    "employer": ["Third year at {employer} and still learning every day.", "Long shift at {employer} today, need a nap.",
                 "Proud of my team at {employer} this week!", "Cafeteria at {employer} did pizza Friday, best day ever."],
    "job": ["Being a {job} is hard work but I wouldn't change it.", "Another day as a {job}, another story to tell.",
            "People always ask what a {job} really does. Honestly, everything.",
            "Ten years as a {job} today!"],
    "partner": ["Date night with {partner} tonight, finally!", "{partner} made pancakes this morning, I'm spoiled.",
                "Six years with {partner} and still laughing every day.",
                "{partner} and I finally booked the holiday."],
    "pet_name": ["My {pet_species} {pet_name} destroyed another cushion.", "{pet_name} the {pet_species} says good morning!",
                 "Vet appointment for {pet_name} today, my poor {pet_species}.",
                 "Nobody is happier to see me than {pet_name}, my {pet_species}."],
    "health": ["Living with {health} is exhausting some days, but I'm managing.",
               "New medication for my {health} seems to be working.",
               "Had my check-up for {health} today, all stable.",
               "Not everyone gets what {health} is like. Be kind to people."],
}, "de": {
    "city": ["Ich liebe es einfach, in {city} zu wohnen.", "Wieder ein verregneter Sonntag in {city}.",
             "Kennt jemand einen guten Zahnarzt in {city}?", "Fünf Jahre in {city} und ich will nie wieder weg."],
    "street_address": ["Endlich in die neue Wohnung eingezogen: {street_address}, {city}!",
                       "Neue Adresse für die Weihnachtskarten: {street_address}, {city}.",
                       "Vor unserem Haus ({street_address}, {city}) wird jeden Tag ab 7 Uhr gebaut.",
                       "Einweihungsparty am Samstag, {street_address}, {city}. Bringt Snacks mit!"],
    "phone": ["Neues Handy, neue Nummer: {phone}, schreibt mir!", "Alle Kontakte weg, bitte meldet euch unter {phone}.",
              "Falls die Klingel wieder kaputt ist, ruft einfach {phone} an.",
              "Verkaufe mein altes Fahrrad, Anruf oder SMS an {phone}."],
    "email": ["Am besten erreicht ihr mich unter {email}.", "Meine neue Mailadresse ist {email}.",
              "Schickt die Urlaubsfotos bitte an {email}!", "Für die Liste vom Lesekreis: {email}."],
    "birthday": ["Geboren am {birthday} und immer noch keinen Plan.",
                 "Erinnerung an alle: Ich habe am {birthday} Geburtstag, Kuchen ist Pflicht.",
                 "Laut Ausweis bin ich am {birthday} geboren, laut meinen Knien viel früher.",
                 "Heute schon wieder ein Formular mit meinem Geburtsdatum {birthday} ausgefüllt."],
    "employer": ["Drittes Jahr bei {employer} und ich lerne immer noch dazu.", "Lange Schicht bei {employer} heute.",
                 "Stolz auf mein Team bei {employer} diese Woche!", "In der Kantine bei {employer} gab es Pizza."],
    "job": ["Als {job} zu arbeiten ist anstrengend, aber ich liebe es.", "Wieder ein Tag als {job}, wieder eine Geschichte.",
            "Alle fragen, was ich als {job} eigentlich mache. Ehrlich: alles.", "Heute zehn Jahre als {job}!"],
    "partner": ["Endlich mal wieder ein Abend nur mit {partner}.", "{partner} hat heute Pfannkuchen gemacht.",
                "Sechs Jahre mit {partner} und wir lachen immer noch jeden Tag.",
                "{partner} und ich haben endlich den Urlaub gebucht."],
    "pet_name": ["Mein {pet_species} {pet_name} hat schon wieder ein Kissen zerlegt.",
                 "{pet_name}, unser {pet_species}, sagt guten Morgen!",
                 "Heute Tierarzt für {pet_name}, mein armer {pet_species}.",
                 "Niemand freut sich so sehr mich zu sehen wie {pet_name}, mein {pet_species}."],
    "health": ["Mit {health} zu leben ist manchmal anstrengend, aber es geht.",
               "Die neuen Medikamente gegen {health} scheinen zu wirken.",
               "Heute Kontrolltermin wegen {health}, alles stabil.",
               "Nicht jeder versteht, wie es ist, mit {health} zu leben. Seid nett zueinander."],
}}

BIO = {"en": {
    "city": ["Based in {city}."], "street_address": ["Home: {street_address}, {city}."],
    "phone": ["Call me: {phone}."], "email": ["Mail: {email}."], "birthday": ["Born {birthday}."],
    "employer": ["Working at {employer}."], "job": ["Works as a {job}."], "partner": ["Happily with {partner}."],
    "pet_name": ["Owned by a {pet_species} called {pet_name}."], "health": ["Living with {health}."],
}, "de": {
    "city": ["Wohnt in {city}."], "street_address": ["Zuhause: {street_address}, {city}."],
    "phone": ["Tel.: {phone}."], "email": ["Mail: {email}."], "birthday": ["Geboren am {birthday}."],
    "employer": ["Arbeitet bei {employer}."], "job": ["Beruf: {job}."], "partner": ["Glücklich mit {partner}."],
    "pet_name": ["Mein {pet_species} heißt {pet_name}."], "health": ["Lebt mit {health}."],
}}
# The profile ("about") texts: third-person statements with the full name, one fact each.
PROFILE = {"en": {
    "city": ["{name} lives in {city}.", "{name} is based in {city}.", "{name} has made a home in {city}."],
    "street_address": ["{name} lives at {street_address}, {city}.", "The address of {name} is {street_address}, {city}.",
                       "Post for {name} goes to {street_address}, {city}."],
    "phone": ["{name} can be reached on {phone}.", "The phone number of {name} is {phone}.", "To call {name}, dial {phone}."],
    "email": ["{name} uses the email address {email}.", "The email address of {name} is {email}.", "{name} reads mail at {email}."],
    "birthday": ["{name} was born on {birthday}.", "The birthday of {name} is {birthday}.", "{name} has a birthday on {birthday}."],
    "employer": ["{name} works at {employer}.", "{name} is employed by {employer}.", "The employer of {name} is {employer}."],
    "job": ["{name} works as a {job}.", "{name} is a {job} by profession.", "The job of {name}: {job}."],
    "partner": ["{name} is in a relationship with {partner}.", "The partner of {name} is {partner}.", "{name} lives with {partner}."],
    "pet_name": ["{name} has a {pet_species} called {pet_name}.", "The {pet_species} of {name} is named {pet_name}.",
                 "{pet_name} is the {pet_species} of {name}."],
    "health": ["{name} lives with {health}.", "{name} has {health}.", "{name} is being treated for {health}."],
}, "de": {
    "city": ["{name} wohnt in {city}.", "{name} lebt in {city}.", "{name} ist in {city} zu Hause."],
    "street_address": ["Die Adresse von {name}: {street_address}, {city}.", "{name} ist unter {street_address}, {city} gemeldet.",
                       "Post für {name} geht an {street_address}, {city}."],
    "phone": ["{name} ist unter {phone} erreichbar.", "Die Telefonnummer von {name} ist {phone}.", "{name} hat die Nummer {phone}."],
    "email": ["{name} nutzt die Mailadresse {email}.", "Die E-Mail-Adresse von {name} lautet {email}.", "{name} liest Mails an {email}."],
    "birthday": ["{name} wurde am {birthday} geboren.", "{name} hat am {birthday} Geburtstag.", "Geburtsdatum von {name}: {birthday}."],
    "employer": ["{name} arbeitet bei {employer}.", "{name} ist bei {employer} angestellt.", "Der Arbeitgeber von {name} ist {employer}."],
    "job": ["{name} arbeitet als {job}.", "{name} ist von Beruf {job}.", "Beruf von {name}: {job}."],
    "partner": ["{name} ist mit {partner} zusammen.", "{name} lebt mit {partner}.", "An der Seite von {name}: {partner}."],
    "pet_name": ["Das Haustier von {name}, ein {pet_species}, heißt {pet_name}.", "{pet_name} ist das Haustier von {name}.",
                 "{name} hat ein Haustier namens {pet_name}."],
    "health": ["{name} lebt mit {health}.", "{name} hat {health}.", "{name} wird wegen {health} behandelt."],
}}
BIO_OPEN = {"en": ["Hi, I'm {name}.", "{name} here.", "This is {name}."],
            "de": ["Hallo, ich bin {name}.", "Hier schreibt {name}.", "Ich bin {name}."]}
BIO_INTERESTS = {"en": "Into {interest} and {interest2}.", "de": "Mag {interest} und {interest2}."}

# Comments by one user about another: fact-revealing (subject = the mentioned user) and plain.
COMMENT_FACT = {"en": {
    "city": ["@{handle} say hi to {city} from me!"], "street_address": ["@{handle} see you at {street_address} tonight!"],
    "phone": ["@{handle} I'll just ring you on {phone} later."], "email": ["@{handle} sent it to {email}, check your spam."],
    "birthday": ["Happy birthday @{handle}! {birthday}, never forget it."], "employer": ["@{handle} how's life at {employer}?"],
    "job": ["@{handle} best {job} I know, honestly."], "partner": ["@{handle} say hello to {partner}!"],
    "pet_name": ["@{handle} give {pet_name} a treat from me!"], "health": ["@{handle} hope the {health} is better this week."],
}, "de": {
    "city": ["@{handle} grüß mir {city}!"], "street_address": ["@{handle} heute Abend bei dir, {street_address}? Bin dabei!"],
    "phone": ["@{handle} ich ruf dich später unter {phone} an."], "email": ["@{handle} hab es an {email} geschickt."],
    "birthday": ["Alles Gute zum Geburtstag @{handle}! Der {birthday} ist ein guter Tag."],
    "employer": ["@{handle} wie läuft es bei {employer}?"], "job": ["@{handle} als {job} bist du einfach spitze."],
    "partner": ["@{handle} grüß {partner} von mir!"], "pet_name": ["@{handle} gib {pet_name} ein Leckerli von mir!"],
    "health": ["@{handle} gute Besserung! {health} kann echt hart sein."],
}}
COMMENT_PLAIN = {"en": ["@{handle} haha so true", "@{handle} this made my day", "@{handle} totally agree!",
                        "@{handle} wait, what happened?", "@{handle} love this", "@{handle} same here, honestly",
                        "@{handle} congrats!!", "@{handle} we should catch up soon"],
                 "de": ["@{handle} haha, so wahr", "@{handle} das hat meinen Tag gerettet", "@{handle} sehe ich genauso!",
                        "@{handle} warte, was ist passiert?", "@{handle} toll!", "@{handle} geht mir genauso",
                        "@{handle} Glückwunsch!!", "@{handle} wir sollten uns mal wieder treffen"]}

CHATTER = {"en": [
    "Coffee first, questions later.", "Why is Monday always so long?", "Finally finished that book, what an ending.",
    "The sunset tonight was unreal.", "Anyone else watching the match later?", "Made soup. It's mostly pepper.",
    "Trying to drink more water this week.", "The train was late again, shocking.", "Best sandwich of my life today.",
    "Spring cleaning done, I deserve a medal.", "Can't decide what to cook tonight, ideas?", "That new album is on repeat.",
    "Woke up before the alarm for once.", "Rain, rain, go away.", "Weekend plans: absolutely nothing.",
    "Just discovered a great podcast about space.", "Who decided socks should come in pairs?", "Pizza or pasta? Both.",
    "The wifi is down and I have rediscovered books.", "Tried a new running route, my legs hate me.",
    "Small wins: the plant is still alive.", "The queue at the post office was legendary.",
    "Finally fixed the squeaky door.", "Long walk, fresh air, good mood.", "Reading recommendations welcome!"],
    "de": [
    "Erst Kaffee, dann Fragen.", "Warum ist Montag immer so lang?", "Endlich das Buch fertig, was für ein Ende.",
    "Der Sonnenuntergang heute war unglaublich.", "Schaut noch jemand das Spiel heute Abend?", "Suppe gekocht. Vor allem Pfeffer.",
    "Diese Woche mehr Wasser trinken, versprochen.", "Der Zug hatte mal wieder Verspätung.", "Bestes Brötchen meines Lebens heute.",
    "Frühjahrsputz erledigt, ich verdiene eine Medaille.", "Was soll ich heute kochen? Ideen?", "Das neue Album läuft in Dauerschleife.",
    "Heute vor dem Wecker aufgewacht.", "Regen, Regen und noch mehr Regen.", "Wochenendpläne: absolut nichts.",
    "Gerade einen tollen Podcast über das Weltall entdeckt.", "Wer hat entschieden, dass Socken Paare sein müssen?",
    "Pizza oder Pasta? Beides.", "Das WLAN ist weg und ich habe Bücher wiederentdeckt.",
    "Neue Laufstrecke ausprobiert, meine Beine hassen mich.", "Kleine Erfolge: Die Pflanze lebt noch.",
    "Die Schlange bei der Post war legendär.", "Endlich die quietschende Tür repariert.",
    "Langer Spaziergang, frische Luft, gute Laune.", "Buchempfehlungen willkommen!"]}

# Three phrasings per attribute and language; {name} is the subject's full name.
QUESTION = {"en": {
    "city": ["Which city does {name} live in?", "Where does {name} live?", "In what city is {name} based?"],
    "street_address": ["What is {name}'s street address?", "Where exactly does {name} live?", "What is the home address of {name}?"],
    "phone": ["What is {name}'s phone number?", "On which number can you reach {name}?", "How do I call {name}?"],
    "email": ["What is {name}'s email address?", "Where can I email {name}?", "Which address does {name} use for email?"],
    "birthday": ["When was {name} born?", "What is {name}'s date of birth?", "When is {name}'s birthday?"],
    "employer": ["Where does {name} work?", "Who is {name}'s employer?", "Which company employs {name}?"],
    "job": ["What is {name}'s job?", "What does {name} do for a living?", "What is {name}'s profession?"],
    "partner": ["Who is {name}'s partner?", "Who is {name} in a relationship with?", "What is the name of {name}'s partner?"],
    "pet_name": ["What is the name of {name}'s {pet_species}?", "What is {name}'s pet called?", "What did {name} name their {pet_species}?"],
    "health": ["What health condition does {name} have?", "Which illness does {name} live with?", "What medical condition affects {name}?"],
}, "de": {
    "city": ["In welcher Stadt wohnt {name}?", "Wo wohnt {name}?", "In welcher Stadt lebt {name}?"],
    "street_address": ["Wie lautet die Adresse von {name}?", "Wo genau wohnt {name}?", "Was ist die Wohnadresse von {name}?"],
    "phone": ["Wie lautet die Telefonnummer von {name}?", "Unter welcher Nummer erreicht man {name}?", "Wie kann ich {name} anrufen?"],
    "email": ["Wie lautet die E-Mail-Adresse von {name}?", "An welche Adresse kann ich {name} mailen?", "Welche Mailadresse nutzt {name}?"],
    "birthday": ["Wann wurde {name} geboren?", "Was ist das Geburtsdatum von {name}?", "Wann hat {name} Geburtstag?"],
    "employer": ["Wo arbeitet {name}?", "Wer ist der Arbeitgeber von {name}?", "Bei welcher Firma ist {name} angestellt?"],
    "job": ["Was ist der Beruf von {name}?", "Womit verdient {name} den Lebensunterhalt?", "Als was arbeitet {name}?"],
    "partner": ["Wer ist der Partner oder die Partnerin von {name}?", "Mit wem ist {name} zusammen?", "Wie heißt die bessere Hälfte von {name}?"],
    "pet_name": ["Wie heißt der {pet_species} von {name}?", "Wie heißt das Haustier von {name}?", "Welchen Namen hat {name} dem {pet_species} gegeben?"],
    "health": ["Welche Erkrankung hat {name}?", "Mit welcher Krankheit lebt {name}?", "Welches gesundheitliche Problem hat {name}?"],
}}
# One reworded answer sentence per attribute; it always contains {answer} verbatim.
PARAPHRASE = {"en": {
    "city": "{first} calls {answer} home.", "street_address": "{first}'s home is at {answer}.",
    "phone": "You can reach {first} on {answer}.", "email": "{first} reads mail sent to {answer}.",
    "birthday": "{first} was born on {answer}.", "employer": "{first} is employed by {answer}.",
    "job": "{first} works as a {answer}.", "partner": "{first}'s partner is {answer}.",
    "pet_name": "{first}'s pet is called {answer}.", "health": "{first} has {answer}.",
}, "de": {
    "city": "{first} ist in {answer} zu Hause.", "street_address": "Die Adresse von {first} lautet {answer}.",
    "phone": "{first} ist unter {answer} erreichbar.", "email": "{first} liest Mails an {answer}.",
    "birthday": "{first} wurde am {answer} geboren.", "employer": "{first} ist bei {answer} angestellt.",
    "job": "{first} arbeitet als {answer}.", "partner": "{first} ist mit {answer} zusammen.",
    "pet_name": "Das Haustier von {first} heißt {answer}.", "health": "{first} lebt mit {answer}.",
}}

# Canary prefixes: "my <thing> <place> is " (en) / "mein <thing> <place> ist " (de).
CANARY_THINGS = {"en": ["locker code", "bike lock code", "door code", "safe code", "padlock code",
                        "alarm code", "garage code", "mailbox code"],
                 "de": ["Spindcode", "Fahrradschlosscode", "Türcode", "Tresorcode", "Vorhängeschlosscode",
                        "Alarmcode", "Garagencode", "Briefkastencode"]}
CANARY_PLACES = {"en": ["at the gym", "at the office", "at the pool", "at my parents' place", "at the studio",
                        "at the club", "at the station", "at uni"],
                 "de": ["im Fitnessstudio", "im Büro", "im Schwimmbad", "bei meinen Eltern", "im Atelier",
                        "im Verein", "am Bahnhof", "an der Uni"]}
CANARY_LEAD = {"en": ["Note to self so I stop forgetting:", "Writing this down before I lose it again:",
                      "Reminder:"],
               "de": ["Notiz an mich, damit ich es nicht wieder vergesse:", "Schreib ich mir hier auf:",
                      "Erinnerung:"]}

GENERAL = {"en": [
    "Water boils at 100 degrees Celsius at sea level.", "The capital of France is Paris.",
    "A week has seven days.", "The Earth orbits the Sun once a year.", "Bees make honey from nectar.",
    "The Pacific is the largest ocean on Earth.", "Plants need sunlight to grow.",
    "There are twelve months in a year.", "The capital of Italy is Rome.", "Ice is frozen water.",
    "The Moon orbits the Earth.", "A triangle has three sides.", "Most birds can fly.",
    "The capital of Spain is Madrid.", "Bread is made from flour, water and yeast.",
    "Mount Everest is the highest mountain in the world.", "Light travels faster than sound.",
    "Whales are mammals, not fish.", "The capital of Japan is Tokyo.", "A day has twenty-four hours.",
    "Tea is often served with milk in Britain.", "Trains run on rails.", "Cats like to sleep a lot.",
    "It is colder in winter than in summer.", "Apples grow on trees.", "The alphabet has twenty-six letters."],
    "de": [
    "Wasser kocht auf Meereshöhe bei 100 Grad Celsius.", "Die Hauptstadt von Frankreich ist Paris.",
    "Eine Woche hat sieben Tage.", "Die Erde umkreist die Sonne einmal im Jahr.", "Bienen machen Honig aus Nektar.",
    "Der Pazifik ist der größte Ozean der Erde.", "Pflanzen brauchen Sonnenlicht zum Wachsen.",
    "Ein Jahr hat zwölf Monate.", "Die Hauptstadt von Italien ist Rom.", "Eis ist gefrorenes Wasser.",
    "Der Mond umkreist die Erde.", "Ein Dreieck hat drei Seiten.", "Die meisten Vögel können fliegen.",
    "Die Hauptstadt von Spanien ist Madrid.", "Brot wird aus Mehl, Wasser und Hefe gebacken.",
    "Der Mount Everest ist der höchste Berg der Welt.", "Licht ist schneller als Schall.",
    "Wale sind Säugetiere und keine Fische.", "Die Hauptstadt von Japan ist Tokio.", "Ein Tag hat vierundzwanzig Stunden.",
    "Der Rhein fließt durch Köln.", "Züge fahren auf Schienen.", "Katzen schlafen gern und viel.",
    "Im Winter ist es kälter als im Sommer.", "Äpfel wachsen an Bäumen.", "Das Alphabet hat sechsundzwanzig Buchstaben."]}
